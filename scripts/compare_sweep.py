from layeratlas.logs import log_to_file
from layeratlas.stages import train

log_to_file(snakemake.log[0])
train.compare_sweep(
    snakemake.wildcards.sweep,
    snakemake.params.members,
    snakemake.params.specs,
    list(snakemake.input),
    table=snakemake.output.table,
    figure=snakemake.output.figure,
)
