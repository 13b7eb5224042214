from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import train

log_to_file(snakemake.log[0])
train.plot_test_predictions(
    snakemake.wildcards.model,
    predictions=snakemake.input.predictions,
    dataset_dir=list(dict.fromkeys(Path(f).parent for f in snakemake.input.dataset)),  # one or pooled
    confusion_table=snakemake.output.table,
    confusion_figure=snakemake.output.confusion,
    top_losses_figure=snakemake.output.top_losses,
)
