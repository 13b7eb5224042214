from layeratlas.logs import log_to_file
from layeratlas.stages import inspect

log_to_file(snakemake.log[0])
inspect.network_figures(
    snakemake.wildcards.model,
    snakemake.params.spec,
    checkpoint=snakemake.input.checkpoint[0] if len(snakemake.input.checkpoint) else None,
    seed=snakemake.params.seed,
    options=snakemake.params.options,
    filters_dir=snakemake.output.filters,
    layer_table=snakemake.output.table,  # the .tsv beside it is written with it
)
