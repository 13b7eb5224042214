from layeratlas.logs import log_to_file
from layeratlas.stages import robustness

log_to_file(snakemake.log[0])
robustness.robustness_summary(
    snakemake.input.tables,
    accuracy=snakemake.output.accuracy,  # the .tsv beside each is written with it
    summary=snakemake.output.summary,
)
