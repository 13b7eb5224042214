from layeratlas.logs import log_to_file
from layeratlas.stages import report as stages

log_to_file(snakemake.log[0])
stages.atlas(
    snakemake.wildcards.dataset,
    snakemake.params.layers,
    snakemake.params.maps,
    snakemake.input.summary,
    snakemake.input.dataset.rsplit("/", 1)[0],
    snakemake.params.method,
    snakemake.output.atlas,
    snakemake.output.depth,
)
