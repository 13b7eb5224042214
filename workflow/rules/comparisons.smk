# Paired tests between layers and models (results/summary/comparisons): exact McNemar on the same test
# images, Holm-corrected; a pretrained -> fine-tuned pair's inter/intra ratio change with its bootstrap.
from layeratlas.config import model_pairs as _model_pairs

COMPARISON_PAIRS = _model_pairs(config)


# Only where some classifier keeps per-image predictions (the front page asks whether a rule makes it).
if comparison_classifier():

    rule comparisons:
        input:
            predictions=list(comparison_predictions().values()),
            features=comparison_features,
        output:
            table="results/summary/comparisons.parquet",
            table_tsv=report(
                "results/summary/comparisons.tsv",
                caption="../report/comparisons.rst",
                category="summary",
                labels={"dataset": "all", "figure": "paired tests: layers and models (.tsv)"},
            ),
            # its page, rendered here: a job of its own was a process start for milliseconds of rendering
            page=report(
                "results/report/comparisons.html",
                caption="../report/comparisons_table.rst",
                category="comparisons",
                labels={"dataset": "all", "figure": "0 paired tests behind the findings (table)"},
            ),
        log:
            "logs/comparisons.log",
        conda:
            "../envs/layeratlas.yaml"
        resources:
            mem_mb=4000,
            runtime=30,
        params:
            cells=list(comparison_predictions()),
            layers=LAYERS,
            pairs=COMPARISON_PAIRS,
            classifier=comparison_classifier(),
            split=config["analyses"]["split"],
            resamples=config["analyses"]["bootstrap"]["resamples"],
            seed=config["seed"],
            title="Paired tests behind the front page's findings (exact McNemar on linear-probe correctness)",
        script:
            "../../scripts/comparisons.py"
