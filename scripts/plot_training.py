from layeratlas.logs import log_to_file
from layeratlas.stages import train

log_to_file(snakemake.log[0])
train.plot_training(snakemake.wildcards.model, snakemake.input.history, snakemake.output[0])
