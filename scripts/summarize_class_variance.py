from layeratlas import stages
from layeratlas.logs import log_to_file

log_to_file(snakemake.log[0])
stages.summarize_class_variance(
    list(snakemake.input.summaries), snakemake.output.table, snakemake.output.figure
)
