from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import train

log_to_file(snakemake.log[0])
i, o, model = snakemake.input, snakemake.output, snakemake.wildcards.model
train.plot_training(model, i.history, o.curves)
train.plot_test_predictions(
    model,
    predictions=i.predictions,
    dataset_dir=list(dict.fromkeys(Path(f).parent for f in i.dataset)),  # one or pooled
    confusion_table=o.table,
    confusion_figure=o.confusion,
    top_losses_figure=o.top_losses,
)
