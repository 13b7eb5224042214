from layeratlas.logs import log_to_file
from layeratlas.stages import analysis

log_to_file(snakemake.log[0])
w, out = snakemake.wildcards, snakemake.output
analysis.layer_neural_collapse(
    w.dataset,
    w.model,
    w.layer,
    features_dir=snakemake.input.features,
    linear_probe=snakemake.input.linear_probe,
    table=out.table,  # the .tsv beside it is written with it
    summary=out.summary,
    resamples=snakemake.params.resamples,
    seed=snakemake.params.seed,
)
