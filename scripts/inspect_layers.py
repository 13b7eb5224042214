from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import inspect

log_to_file(snakemake.log[0])
out, params = snakemake.output, snakemake.params
inspect.model_inspection(
    params.dataset,
    snakemake.wildcards.model,
    params.spec,
    checkpoint=snakemake.input.checkpoint[0] if len(snakemake.input.checkpoint) else None,
    dataset_dir=Path(snakemake.input.dataset[0]).parent,
    split=params.split,
    seed=params.seed,
    options=params.options,
    threads=snakemake.threads,
    # per layer: its activations folder, top patches table (the .tsv beside it is written with it), figure
    layers=dict(zip(params.layers, zip(out.activations, out.tables, out.figures, strict=True), strict=True)),
    dead_table=out.dead_table,  # the .tsv beside it is written with it
    dead_figure=out.dead_figure,
    # the first dataset's job: the model's filter grids and layer shape table (the .tsv beside it) too
    network=(out.filters, out.table) if hasattr(out, "filters") else None,
)
