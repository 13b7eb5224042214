from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import inspect

log_to_file(snakemake.log[0])
w, out = snakemake.wildcards, snakemake.output
inspect.dead_units(
    w.dataset,
    w.model,
    snakemake.params.spec,
    checkpoint=snakemake.input.checkpoint[0] if len(snakemake.input.checkpoint) else None,
    dataset_dir=Path(snakemake.input.dataset[0]).parent,
    split=snakemake.params.split,
    seed=snakemake.params.seed,
    options=snakemake.params.options,
    threads=snakemake.threads,
    table=out.table,  # the .tsv beside it is written with it
    figure=out.figure,
)
