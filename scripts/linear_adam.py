from layeratlas.logs import log_to_file
from layeratlas.stages import analysis

log_to_file(snakemake.log[0])
w, out = snakemake.wildcards, snakemake.output
analysis.layer_linear_adam(
    w.dataset,
    w.model,
    w.layer,
    features_dir=snakemake.input.features,
    options=snakemake.params.options,
    seed=snakemake.params.seed,
    table=out.table,  # the .tsv beside it is written with it
    summary=out.summary,
    figure=out.figure,
    predictions=out.predictions,
)
