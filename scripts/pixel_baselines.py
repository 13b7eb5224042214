from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import analysis

log_to_file(snakemake.log[0])
analysis.pixel_baselines(
    snakemake.wildcards.dataset,
    dataset_dir=Path(snakemake.input.dataset[0]).parent,
    table=snakemake.output.table,  # the .tsv beside it is written with it
    figure=snakemake.output.figure,
)
