from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import train

log_to_file(snakemake.log[0])
train.train_model(
    snakemake.wildcards.model,
    snakemake.params.spec,
    dataset_dir=list(dict.fromkeys(Path(f).parent for f in snakemake.input.dataset)),  # one or pooled
    seed=snakemake.params.seed,
    checkpoint=snakemake.output.checkpoint,
    history=snakemake.output.history,
    metrics=snakemake.output.metrics,
    predictions=snakemake.output.predictions,
    snapshots=snakemake.output.snapshots,
    threads=snakemake.threads,
)
