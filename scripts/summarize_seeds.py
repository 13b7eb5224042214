from layeratlas.logs import log_to_file
from layeratlas.stages import train

log_to_file(snakemake.log[0])
train.summarize_seeds(snakemake.input.summary, snakemake.params.groups, table=snakemake.output.table)
