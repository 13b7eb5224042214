from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import analysis

log_to_file(snakemake.log[0])
w, out = snakemake.wildcards, snakemake.output
analysis.class_variance(
    w.dataset,
    w.model,
    w.layer,
    features_dir=snakemake.input.features,
    dataset_dir=Path(snakemake.input.dataset[0]).parent,
    split=snakemake.params.split,
    intra=out.intra,  # the .tsv beside each .parquet is written with it
    inter=out.inter,
    summary=out.summary,
    heatmap=out.heatmap,
    intra_bar=out.intra_bar,
    resamples=snakemake.params.resamples,
    seed=snakemake.params.seed,
)
