from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import analysis

log_to_file(snakemake.log[0])
w, out = snakemake.wildcards, snakemake.output
# Each analysis' outputs are declared only while it is on (workflow/rules/analysis.smk): one process each.
if hasattr(out, "table"):  # analyses.probes, or the linear probe that neural collapse reads
    analysis.layer_probes(
        w.dataset,
        w.model,
        w.layer,
        features_dir=snakemake.input.features,
        dataset_dir=Path(snakemake.input.dataset[0]).parent,
        options=snakemake.params.options,
        seed=snakemake.params.seed,
        threads=snakemake.threads,
        table=out.table,  # the .tsv beside it is written with it
        summary=out.summary,
        confusion=out.confusion,
        linear_probe=out.linear_probe,
        predictions=out.predictions,
        resamples=snakemake.params.resamples,
    )
if hasattr(out, "nc_table"):  # analyses.neural_collapse: from the linear probe just fitted
    analysis.layer_neural_collapse(
        w.dataset,
        w.model,
        w.layer,
        features_dir=snakemake.input.features,
        linear_probe=out.linear_probe,
        table=out.nc_table,  # the .tsv beside it is written with it
        summary=out.nc_summary,
        resamples=snakemake.params.resamples,
        seed=snakemake.params.seed,
    )
if hasattr(out, "adam_table"):  # analyses.linear_adam
    analysis.layer_linear_adam(
        w.dataset,
        w.model,
        w.layer,
        features_dir=snakemake.input.features,
        options=snakemake.params.linear_adam,
        seed=snakemake.params.seed,
        table=out.adam_table,  # the .tsv beside it is written with it
        summary=out.adam_summary,
        figure=out.adam_figure,
        predictions=out.adam_predictions,
    )
