# Robustness under domain shift (the config's `robustness:` block; layeratlas.robustness): accuracy of
# clean-fitted classifiers and trained heads on corrupted copies, per-layer feature drift, 2 x 2 PCA.
from layeratlas.robustness import config as _robustness

ROBUSTNESS = config["robustness"]
CORRUPTED = _robustness.corrupted_datasets(config)
ROBUST_LAYERS = _robustness.robustness_layers(config) if ROBUSTNESS else {}
HEAD_MODELS = _robustness.head_models(config) if ROBUSTNESS else []
ROBUST_OUT = "results/robustness"


rule robustness_probes:
    input:
        features=_robust_features,
        metadata=_corrupted_metadata,
    output:
        table=f"{ROBUST_OUT}/{{model}}/{{layer}}/accuracy.parquet",
        table_tsv=f"{ROBUST_OUT}/{{model}}/{{layer}}/accuracy.tsv",
    log:
        "logs/robustness_probes/{model}/{layer}.log",
    benchmark:
        "results/benchmarks/robustness_probes/{model}/{layer}.tsv"
    conda:
        "../envs/layeratlas.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        clean=ROBUSTNESS["clean"] if ROBUSTNESS else None,
        corrupted=lambda wildcards: _corrupted_entries(wildcards.model),
        options=lambda wildcards: {
            **config["analyses"]["probes"],
            "classifiers": ROBUSTNESS["classifiers"],
            "linear_adam": config["analyses"]["linear_adam"],
        },
        seed=config["seed"],
    script:
        "../../scripts/robustness_probes.py"


rule robustness_heads:
    input:
        checkpoint="models/{model}/checkpoint.pt",
        clean=lambda wildcards: dataset_files(ROBUSTNESS["clean"]),
        corrupted=lambda wildcards: [f for c in CORRUPTED for f in dataset_files(c.dataset)],
    output:
        table=f"{ROBUST_OUT}/{{model}}/head_accuracy.parquet",
        table_tsv=f"{ROBUST_OUT}/{{model}}/head_accuracy.tsv",
    log:
        "logs/robustness_heads/{model}.log",
    benchmark:
        "results/benchmarks/robustness_heads/{model}.tsv"
    conda:
        "../envs/layeratlas.yaml"
    threads: 2
    resources:
        gpu=GPU,
        mem_mb=8000,
        runtime=120,
    params:
        clean=ROBUSTNESS["clean"] if ROBUSTNESS else None,
        corrupted=lambda wildcards: _corrupted_entries(),
        batch_size=ROBUSTNESS["batch_size"] if ROBUSTNESS else None,
    script:
        "../../scripts/robustness_heads.py"


rule robustness_summary:
    input:
        tables=_accuracy_tables,
    output:
        accuracy=f"{ROBUST_OUT}/accuracy.parquet",
        accuracy_tsv=report(
            f"{ROBUST_OUT}/accuracy.tsv",
            caption="../report/robustness_accuracy.rst",
            category="robustness",
            subcategory="accuracy under corruption",
            labels={"model": "all", "figure": "accuracy table (every corruption, severity, model, layer)"},
        ),
        summary=f"{ROBUST_OUT}/corruption_summary.parquet",
        summary_tsv=report(
            f"{ROBUST_OUT}/corruption_summary.tsv",
            caption="../report/robustness_summary.rst",
            category="robustness",
            subcategory="accuracy under corruption",
            labels={"model": "all", "figure": "mean corruption accuracy and relative drop"},
        ),
    log:
        "logs/robustness_summary.log",
    conda:
        "../envs/layeratlas.yaml"
    script:
        "../../scripts/robustness_summary.py"


rule plot_accuracy_vs_severity:
    input:
        accuracy=f"{ROBUST_OUT}/accuracy.parquet",
    output:
        report(
            f"{ROBUST_OUT}/accuracy_vs_severity_{{corruption}}.png",
            caption="../report/accuracy_vs_severity.rst",
            category="robustness",
            subcategory="accuracy under corruption",
            labels={"model": "all", "figure": "accuracy vs severity: {corruption}"},
        ),
    log:
        "logs/plot_accuracy_vs_severity/{corruption}.log",
    wildcard_constraints:
        corruption="[a-z_]+",
    conda:
        "../envs/layeratlas.yaml"
    params:
        clean=ROBUSTNESS["clean"] if ROBUSTNESS else None,
    script:
        "../../scripts/plot_accuracy_vs_severity.py"


rule feature_drift:
    input:
        features=_robust_features,
        metadata=_corrupted_metadata,
    output:
        table=f"{ROBUST_OUT}/{{model}}/{{layer}}/drift.parquet",
        table_tsv=f"{ROBUST_OUT}/{{model}}/{{layer}}/drift.tsv",
    log:
        "logs/feature_drift/{model}/{layer}.log",
    benchmark:
        "results/benchmarks/feature_drift/{model}/{layer}.tsv"
    conda:
        "../envs/layeratlas.yaml"
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        corrupted=lambda wildcards: _corrupted_entries(wildcards.model),
    script:
        "../../scripts/feature_drift.py"


rule plot_feature_drift:
    input:
        tables=lambda wildcards: [
            f"{ROBUST_OUT}/{wildcards.model}/{layer}/drift.parquet"
            for layer in ROBUST_LAYERS[wildcards.model]
        ],
    output:
        table=f"{ROBUST_OUT}/{{model}}/drift.parquet",
        table_tsv=report(
            f"{ROBUST_OUT}/{{model}}/drift.tsv",
            caption="../report/feature_drift.rst",
            category="robustness",
            subcategory="feature drift",
            labels={"model": "{model}", "figure": "feature drift per layer (.tsv)"},
        ),
        figure=report(
            f"{ROBUST_OUT}/{{model}}/drift.png",
            caption="../report/feature_drift.rst",
            category="robustness",
            subcategory="feature drift",
            labels={"model": "{model}", "figure": "feature drift per layer"},
        ),
    log:
        "logs/plot_feature_drift/{model}.log",
    conda:
        "../envs/layeratlas.yaml"
    params:
        layers=lambda wildcards: ROBUST_LAYERS[wildcards.model],
    script:
        "../../scripts/plot_feature_drift.py"


rule robustness_pca_grid:
    input:
        features=lambda wildcards: [
            f"results/features/{d}/{m}"
            for m in (_compare_pair(wildcards)["original"], wildcards.model)
            for d in (ROBUSTNESS["clean"], wildcards.dataset)
        ],
        dataset=lambda wildcards: dataset_files(ROBUSTNESS["clean"]),
    output:
        report(
            f"{ROBUST_OUT}/{{model}}/{{layer}}/pca_grid_{{dataset}}.png",
            caption="../report/robustness_pca_grid.rst",
            category="robustness",
            subcategory="original vs fine-tuned",
            labels=_robust_labels("PCA 2 x 2 on {dataset}"),
        ),
    log:
        "logs/robustness_pca_grid/{model}/{layer}/{dataset}.log",
    conda:
        "../envs/layeratlas.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        original=lambda wildcards: _compare_pair(wildcards)["original"],
        clean=ROBUSTNESS["clean"] if ROBUSTNESS else None,
    script:
        "../../scripts/robustness_pca_grid.py"
