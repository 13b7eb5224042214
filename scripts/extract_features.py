from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import extract

log_to_file(snakemake.log[0])
extract.extract_features(
    snakemake.input.onnx,
    snakemake.input.metadata,
    dataset_dir=Path(snakemake.input.dataset[0]).parent,
    out_dir=snakemake.output.features,
    batch_size=snakemake.params.extraction["batch_size"],
    threads=snakemake.threads,
    options=snakemake.params.extraction,
)
