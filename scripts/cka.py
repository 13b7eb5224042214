from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import analysis

log_to_file(snakemake.log[0])
analysis.dataset_cka(
    snakemake.wildcards.dataset,
    features_root=Path(snakemake.input.features[0]).parent,
    layers=snakemake.params.layers,
    split=snakemake.params.split,
    resamples=snakemake.params.resamples,
    samples=snakemake.params.samples,
    seed=snakemake.params.seed,
    table=snakemake.output.table,  # the .tsv beside it is written with it
    figure=snakemake.output.figure,
    # each model's layer x layer block, in the models' order (the outputs' order)
    model_figures=dict(zip(snakemake.params.layers, snakemake.output.models, strict=True)),
)
