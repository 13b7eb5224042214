from layeratlas.logs import log_to_file
from layeratlas.stages import robustness

log_to_file(snakemake.log[0])
robustness.robustness_probes(
    snakemake.params.clean,
    snakemake.wildcards.model,
    snakemake.wildcards.layer,
    clean_features=snakemake.input.features[0],
    corrupted=snakemake.params.corrupted,
    options=snakemake.params.options,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
    table=snakemake.output.table,  # the .tsv beside it is written with it
)
