from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import robustness

log_to_file(snakemake.log[0])
robustness.head_accuracy(
    snakemake.params.clean,
    snakemake.wildcards.model,
    checkpoint=snakemake.input.checkpoint,
    clean_dataset_dir=Path(snakemake.input.clean[0]).parent,
    corrupted=snakemake.params.corrupted,
    batch_size=snakemake.params.batch_size,
    threads=snakemake.threads,
    table=snakemake.output.table,  # the .tsv beside it is written with it
)
