from layeratlas.logs import log_to_file
from layeratlas.stages import analysis

log_to_file(snakemake.log[0])
w = snakemake.wildcards
analysis.plot_model_cka(
    w.dataset, w.model, snakemake.params.layers, snakemake.input.table, snakemake.output[0]
)
