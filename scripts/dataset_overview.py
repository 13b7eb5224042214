from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import report as stages

log_to_file(snakemake.log[0])
stages.dataset_overview(
    snakemake.wildcards.dataset,
    Path(snakemake.input.dataset[0]).parent,
    snakemake.output.counts,
    snakemake.output.page,
    snakemake.output.grid,
)
