from layeratlas.logs import log_to_file
from layeratlas.stages import robustness

log_to_file(snakemake.log[0])
robustness.feature_drift(
    snakemake.wildcards.model,
    snakemake.wildcards.layer,
    clean_features=snakemake.input.features[0],
    corrupted=snakemake.params.corrupted,
    table=snakemake.output.table,  # the .tsv beside it is written with it
)
