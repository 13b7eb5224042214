from layeratlas.logs import log_to_file
from layeratlas.stages import data

log_to_file(snakemake.log[0])
data.download_dataset(snakemake.wildcards.source, snakemake.params.checksums, snakemake.params.resources)
