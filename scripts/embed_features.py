from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import analysis

log_to_file(snakemake.log[0])
w, out, params = snakemake.wildcards, snakemake.output, snakemake.params
dataset_dir = Path(snakemake.input.dataset[0]).parent
if hasattr(w, "embedding"):  # rules embed_features(_thumbnails): the {embedding} wildcard's map
    maps = {w.embedding: (params.options, out.table, out.figure)}
else:  # rule embed_pca_umap: each map's options by name, its outputs <map>_table and <map>_figure
    maps = {
        m: (o, getattr(out, f"{m}_table"), getattr(out, f"{m}_figure")) for m, o in params.options.items()
    }
for method, (options, table, figure) in maps.items():
    analysis.embed_features(
        w.dataset,
        w.model,
        w.layer,
        method,
        features_dir=snakemake.input.features,
        dataset_dir=dataset_dir,
        split=params.split,
        options=options,
        seed=params.seed,
        threads=snakemake.threads,
        table=table,
        figure=figure,
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
        max_points=params.thumbnails["max_points"],
        zoom=params.thumbnails["zoom"],
        seed=params.seed,
        figure=out.thumbnails,
    )
