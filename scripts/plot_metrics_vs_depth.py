from layeratlas.logs import log_to_file
from layeratlas.stages import analysis

log_to_file(snakemake.log[0])
for model, figure in zip(snakemake.params.models, snakemake.output, strict=True):
    trained = (snakemake.config["models"].get(model) or {}).get("train")
    analysis.plot_metrics_vs_depth(
        model,
        snakemake.input.table,
        figure,
        # written before the summary exists (the features come from the trained network)
        training_metrics=f"results/training/{model}/metrics.json" if trained else None,
    )
