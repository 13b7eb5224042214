from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import analysis

log_to_file(snakemake.log[0])
w = snakemake.wildcards
analysis.embed_features(
    w.dataset,
    w.model,
    w.layer,
    w.embedding,
    features_dir=snakemake.input.features,
    dataset_dir=Path(snakemake.input.dataset[0]).parent,
    split=snakemake.params.split,
    options=snakemake.params.options,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
    table=snakemake.output.table,
    figure=snakemake.output.figure,
    spec=snakemake.config["models"].get(w.model),  # to mark ImageNet weights used as they are
)
