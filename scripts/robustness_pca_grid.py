from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import robustness

log_to_file(snakemake.log[0])
w, p = snakemake.wildcards, snakemake.params
keys = [(m, d) for m in (p.original, w.model) for d in (p.clean, w.dataset)]  # the order of input.features
robustness.pca_grid(
    p.original,
    w.model,
    w.layer,
    p.clean,
    w.dataset,
    features=dict(zip(keys, snakemake.input.features, strict=True)),
    dataset_dir=Path(snakemake.input.dataset[0]).parent,
    figure=snakemake.output[0],
)
