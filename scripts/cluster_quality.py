from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import analysis

log_to_file(snakemake.log[0])
w, out = snakemake.wildcards, snakemake.output
analysis.layer_cluster_quality(
    w.dataset,
    w.model,
    w.layer,
    features_dir=snakemake.input.features,
    dataset_dir=Path(snakemake.input.dataset[0]).parent,
    split=snakemake.params.split,
    embeddings=dict(zip(snakemake.params.embeddings, snakemake.input.embeddings, strict=True)),
    seed=snakemake.params.seed,
    table=out.table,  # the .tsv beside it is written with it
    summary=out.summary,
    resamples=snakemake.params.resamples,
)
