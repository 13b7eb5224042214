from pathlib import Path

from layeratlas import stages
from layeratlas.logs import log_to_file

log_to_file(snakemake.log[0])
stages.prepare_dataset(
    snakemake.wildcards.dataset,
    snakemake.params.spec,
    snakemake.params.seed,
    out_dir=Path(snakemake.output[0]).parent,
)
