from layeratlas.logs import log_to_file
from layeratlas.stages import robustness

log_to_file(snakemake.log[0])
robustness.plot_accuracy_vs_severity(
    snakemake.input.accuracy,
    snakemake.wildcards.corruption,
    clean_dataset=snakemake.params.clean,
    figure=snakemake.output[0],
)
