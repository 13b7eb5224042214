from layeratlas.logs import log_to_file
from layeratlas.stages import analysis

log_to_file(snakemake.log[0])
# The .csv and .tsv beside the .parquet are written with it.
analysis.summarize_layers(
    list(snakemake.input.summaries),
    snakemake.params.layers,
    snakemake.output.table,
    extractors=dict(zip(snakemake.params.layers, snakemake.input.extractors, strict=True)),
)
