from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import analysis

log_to_file(snakemake.log[0])
w = snakemake.wildcards
analysis.thumbnail_map(
    w.dataset,
    w.model,
    w.layer,
    w.embedding,
    embedding=snakemake.input.embedding,
    dataset_dir=Path(snakemake.input.dataset[0]).parent,
    max_points=snakemake.params.max_points,
    zoom=snakemake.params.zoom,
    seed=snakemake.params.seed,
    figure=snakemake.output[0],
)
