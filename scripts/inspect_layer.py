from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import inspect

log_to_file(snakemake.log[0])
w, out = snakemake.wildcards, snakemake.output
inspect.layer_figures(
    w.dataset,
    w.model,
    w.layer,
    snakemake.params.spec,
    checkpoint=snakemake.input.checkpoint[0] if len(snakemake.input.checkpoint) else None,
    dataset_dir=Path(snakemake.input.dataset[0]).parent,
    split=snakemake.params.split,
    seed=snakemake.params.seed,
    options=snakemake.params.options,
    threads=snakemake.threads,
    activations_dir=out.activations,
    patches_table=out.table,  # the .tsv beside it is written with it
    patches_figure=out.figure,
)
