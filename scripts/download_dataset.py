from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import data

log_to_file(snakemake.log[0])
# resources/<source>/checksums.json -> resources/
resources = Path(snakemake.output[0]).parents[1]
data.download_dataset(snakemake.wildcards.source, snakemake.params.checksums, resources)
