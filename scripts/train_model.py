from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import train

log_to_file(snakemake.log[0])
train.train_model(
    snakemake.wildcards.model,
    snakemake.params.spec,
    dataset_dir=Path(snakemake.input[0]).parent,
    seed=snakemake.params.seed,
    checkpoint=snakemake.output.checkpoint,
    history=snakemake.output.history,
    metrics=snakemake.output.metrics,
    predictions=snakemake.output.predictions,
    snapshots=snakemake.output.snapshots,
    threads=snakemake.threads,
)
