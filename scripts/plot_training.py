from layeratlas import stages
from layeratlas.logs import log_to_file

log_to_file(snakemake.log[0])
stages.plot_training(snakemake.wildcards.model, snakemake.input.history, snakemake.output[0])
