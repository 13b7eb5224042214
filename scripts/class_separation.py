from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import analysis

log_to_file(snakemake.log[0])
w, out, params = snakemake.wildcards, snakemake.output, snakemake.params
dataset_dir = Path(snakemake.input.dataset[0]).parent
# Each analysis' outputs are declared only while it is on (workflow/rules/analysis.smk): one process both.
if hasattr(out, "intra"):  # analyses.variance
    analysis.class_variance(
        w.dataset,
        w.model,
        w.layer,
        features_dir=snakemake.input.features,
        dataset_dir=dataset_dir,
        split=params.split,
        intra=out.intra,  # the .tsv beside each .parquet is written with it
        inter=out.inter,
        summary=out.variance_summary,
        heatmap=out.heatmap,
        intra_bar=out.intra_bar,
        resamples=params.resamples,
        seed=params.seed,
    )
if hasattr(out, "cluster_table"):  # analyses.cluster_quality
    analysis.layer_cluster_quality(
        w.dataset,
        w.model,
        w.layer,
        features_dir=snakemake.input.features,
        dataset_dir=dataset_dir,
        split=params.split,
        embeddings=dict(zip(params.embeddings, snakemake.input.embeddings, strict=True)),
        seed=params.seed,
        table=out.cluster_table,  # the .tsv beside it is written with it
        summary=out.cluster_summary,
        resamples=params.resamples,
    )
