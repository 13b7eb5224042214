from layeratlas.logs import log_to_file
from layeratlas.stages import robustness

log_to_file(snakemake.log[0])
robustness.plot_feature_drift(
    snakemake.wildcards.model,
    snakemake.params.layers,
    snakemake.input.tables,
    table=snakemake.output.table,  # the .tsv beside it is written with it
    figure=snakemake.output.figure,
)
