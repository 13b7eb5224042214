from layeratlas.logs import log_to_file
from layeratlas.stages import report as stages

log_to_file(snakemake.log[0])
stages.html_tables(list(snakemake.input), list(snakemake.output), list(snakemake.params.titles))
