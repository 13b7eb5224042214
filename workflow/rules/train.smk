rule train_model:
    input:
        training_dataset,
    output:
        checkpoint="models/{model}/checkpoint.pt",
        history="results/training/{model}/history.parquet",
        metrics="results/training/{model}/metrics.json",
    log:
        "logs/train_model/{model}.log",
    benchmark:
        "results/benchmarks/train_model/{model}.tsv"
    params:
        spec=lambda wildcards: config["models"][wildcards.model],
        seed=config["seed"],
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=120,
    script:
        "../../scripts/train_model.py"


rule plot_training:
    input:
        history="results/training/{model}/history.parquet",
    output:
        report(
            "results/training/{model}/history.png",
            caption="../report/training_history.rst",
            category="{model}",
            subcategory="training",
            labels={"model": "{model}", "figure": "training curves"},
        ),
    log:
        "logs/plot_training/{model}.log",
    script:
        "../../scripts/plot_training.py"
