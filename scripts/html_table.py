from layeratlas.logs import log_to_file
from layeratlas.stages import report as stages

log_to_file(snakemake.log[0])
stages.html_table(snakemake.input[0], snakemake.output[0], snakemake.params.title)
