from layeratlas.logs import log_to_file
from layeratlas.stages import analysis

log_to_file(snakemake.log[0])
analysis.summarize_class_variance(
    list(snakemake.input.summaries), snakemake.output.table, snakemake.output.figure
)
