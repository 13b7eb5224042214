from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import analysis

log_to_file(snakemake.log[0])
w, out = snakemake.wildcards, snakemake.output
dataset_dir = Path(snakemake.input.dataset[0]).parent
analysis.embed_features(
    w.dataset,
    w.model,
    w.layer,
    w.embedding,
    features_dir=snakemake.input.features,
    dataset_dir=dataset_dir,
    split=snakemake.params.split,
    options=snakemake.params.options,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
    table=out.table,
    figure=out.figure,
    spec=snakemake.config["models"].get(w.model),  # to mark ImageNet weights used as they are
)
if hasattr(out, "thumbnails"):  # rule embed_features_thumbnails: its thumbnail map too, in this process
    analysis.thumbnail_map(
        w.dataset,
        w.model,
        w.layer,
        w.embedding,
        embedding=out.table,
        dataset_dir=dataset_dir,
        max_points=snakemake.params.thumbnails["max_points"],
        zoom=snakemake.params.thumbnails["zoom"],
        seed=snakemake.params.seed,
        figure=out.thumbnails,
    )
