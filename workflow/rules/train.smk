rule train_model:
    input:
        dataset=training_dataset,
        weights=weights_input,  # models.<model>.weights as a local file: a changed file retrains
    output:
        checkpoint="models/{model}/checkpoint.pt",
        history="results/training/{model}/history.parquet",
        metrics=report(
            "results/training/{model}/metrics.json",
            caption="../report/training_metrics.rst",
            category="{model}",
            subcategory="training",
            labels={"model": "{model}", "table": "test metrics (.json)"},
        ),
        predictions="results/training/{model}/test_predictions.parquet",
        snapshots=directory("models/{model}/snapshots"),  # train.snapshots: epoch<k>.pt per listed epoch
    log:
        "logs/train_model/{model}.log",
    benchmark:
        "results/benchmarks/train_model/{model}.tsv"
    # The longest chain (train -> export -> extract -> analyses) starts first: without priorities Snakemake
    # ran the pretrained models' analyses while training waited (issue 22).
    priority: 30
    conda:
        "../envs/layeratlas.yaml"
    # 1 on 2 cores or fewer, like the other torch jobs (job_threads): a 2-thread training waited while
    # 1-thread jobs kept a core. The weights depend on the thread count (float sums in another order);
    # the default recipe reaches 94.7-96.2% test accuracy with either (seeds 0-2 x 1-2 threads).
    threads: job_threads(2)
    resources:
        gpu=GPU,
        mem_mb=8000,
        runtime=120,
    params:
        spec=lambda wildcards: config["models"][wildcards.model],
        seed=lambda wildcards: config["models"][wildcards.model]["train"].get("seed", config["seed"]),
    script:
        "../../scripts/train_model.py"


# A trained model's figures and confusion table in one job (issue 22): both read train_model's outputs, and
# the curves alone were a process start (~0.6 CPU-s) and matplotlib's import for one small figure.
rule plot_training:
    input:
        history="results/training/{model}/history.parquet",
        predictions="results/training/{model}/test_predictions.parquet",
        dataset=training_dataset,
    output:
        curves=report(
            "results/training/{model}/history.png",
            caption="../report/training_history.rst",
            category="{model}",
            subcategory="training",
            labels={"model": "{model}", "figure": "training curves"},
        ),
        table=report(
            "results/training/{model}/confusion_matrix.tsv",
            caption="../report/confusion_table.rst",
            category="{model}",
            subcategory="training",
            labels={"model": "{model}", "table": "confusion matrix"},
        ),
        parquet="results/training/{model}/confusion_matrix.parquet",
        confusion=report(
            "results/training/{model}/confusion_matrix.png",
            caption="../report/confusion_matrix.rst",
            category="{model}",
            subcategory="training",
            labels={"model": "{model}", "figure": "confusion matrix"},
        ),
        top_losses=report(
            "results/training/{model}/top_losses.png",
            caption="../report/top_losses.rst",
            category="{model}",
            subcategory="training",
            labels={"model": "{model}", "figure": "highest-loss test images"},
        ),
    log:
        "logs/plot_training/{model}.log",
    conda:
        "../envs/layeratlas.yaml"
    script:
        "../../scripts/plot_training.py"


rule compare_sweep:
    input:
        sweep_metrics,
    output:
        table=report(
            "results/training/sweeps/{sweep}/comparison.tsv",
            caption="../report/sweep_comparison.rst",
            category="sweeps",
            subcategory="{sweep}",
            labels={"sweep": "{sweep}", "table": "comparison"},
        ),
        parquet="results/training/sweeps/{sweep}/comparison.parquet",
        figure=report(
            "results/training/sweeps/{sweep}/comparison.png",
            caption="../report/sweep_comparison.rst",
            category="sweeps",
            subcategory="{sweep}",
            labels={"sweep": "{sweep}", "figure": "comparison"},
        ),
    log:
        "logs/compare_sweep/{sweep}.log",
    wildcard_constraints:
        sweep="[A-Za-z0-9][A-Za-z0-9_-]*",
    conda:
        "../envs/layeratlas.yaml"
    params:
        members=lambda wildcards: SWEEPS[wildcards.sweep],
        specs=lambda wildcards: [config["models"][m] for m in SWEEPS[wildcards.sweep]],
    script:
        "../../scripts/compare_sweep.py"


rule summarize_seeds:
    input:
        summary="results/summary/layers.parquet",
    output:
        table="results/summary/seeds.parquet",
        table_tsv=report(
            "results/summary/seeds.tsv",
            caption="../report/seeds.rst",
            category="summary",
            labels={"dataset": "all", "figure": "spread across training seeds (.tsv)"},
        ),
    log:
        "logs/summarize_seeds.log",
    conda:
        "../envs/layeratlas.yaml"
    params:
        groups=SEED_GROUPS,
    script:
        "../../scripts/summarize_seeds.py"
