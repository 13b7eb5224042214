from layeratlas.logs import log_to_file
from layeratlas.stages import analysis

log_to_file(snakemake.log[0])
analysis.plot_metrics_vs_depth(snakemake.wildcards.model, snakemake.input.table, snakemake.output[0])
