from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import analysis, report

log_to_file(snakemake.log[0])
p, features, out = snakemake.params, snakemake.input.features, snakemake.output
# results/features: the parent of the datasets' folders (the pair models' features are inputs)
root = Path(features[0]).parents[1] if features else Path("results/features")
analysis.layer_comparisons(
    dict(zip(p.cells, snakemake.input.predictions, strict=True)),
    p.layers,
    [tuple(pair) for pair in p.pairs],
    p.classifier,
    features_root=root,
    split=p.split,
    resamples=p.resamples,
    seed=p.seed,
    table=out.table,  # the .tsv beside it is written with it
)
report.html_tables([out.table_tsv], [out.page], [p.title])
