from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import data

log_to_file(snakemake.log[0])
data.prepare_dataset(
    snakemake.wildcards.dataset,
    snakemake.params.spec,
    snakemake.params.seed,
    out_dir=Path(snakemake.output.images).parent,
    resources=snakemake.params.resources,
    verified=bool(snakemake.input.get("checksums")),
    skipped=Path(snakemake.output.skipped).with_suffix(""),
)
