rule embed_features:
    input:
        features="results/features/{dataset}/{model}",
        dataset=lambda wildcards: dataset_files(wildcards.dataset),
    output:
        table="results/analysis/{dataset}/{model}/{layer}/embedding_{embedding}.parquet",
        figure=report(
            "results/analysis/{dataset}/{model}/{layer}/embedding_{embedding}.png",
            caption="../report/embedding.rst",
            category="{model}",
            subcategory="{layer}",
            labels={"dataset": "{dataset}", "model": "{model}", "layer": "{layer}", "figure": "{embedding}"},
        ),
    log:
        "logs/embed_features/{dataset}/{model}/{layer}/{embedding}.log",
    benchmark:
        "results/benchmarks/embed_features/{dataset}/{model}/{layer}/{embedding}.tsv"
    params:
        split=config["analyses"]["split"],
        options=lambda wildcards: config["analyses"].get(wildcards.embedding, {}),
        seed=config["seed"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../../scripts/embed_features.py"


rule class_variance:
    input:
        features="results/features/{dataset}/{model}",
        dataset=lambda wildcards: dataset_files(wildcards.dataset),
    output:
        intra="results/analysis/{dataset}/{model}/{layer}/intra_class_variance.parquet",
        intra_tsv=report(
            "results/analysis/{dataset}/{model}/{layer}/intra_class_variance.tsv",
            caption="../report/intra_class_variance.rst",
            category="{model}",
            subcategory="{layer}",
            labels={"dataset": "{dataset}", "model": "{model}", "layer": "{layer}", "figure": "intra-class variance table"},
        ),
        inter="results/analysis/{dataset}/{model}/{layer}/inter_class_variance.parquet",
        inter_tsv=report(
            "results/analysis/{dataset}/{model}/{layer}/inter_class_variance.tsv",
            caption="../report/inter_class_variance.rst",
            category="{model}",
            subcategory="{layer}",
            labels={"dataset": "{dataset}", "model": "{model}", "layer": "{layer}", "figure": "inter-class variance table"},
        ),
        summary="results/analysis/{dataset}/{model}/{layer}/class_variance_summary.json",
        heatmap=report(
            "results/analysis/{dataset}/{model}/{layer}/class_variance_heatmap.png",
            caption="../report/class_variance_heatmap.rst",
            category="{model}",
            subcategory="{layer}",
            labels={"dataset": "{dataset}", "model": "{model}", "layer": "{layer}", "figure": "inter-class variance heatmap"},
        ),
        intra_bar=report(
            "results/analysis/{dataset}/{model}/{layer}/intra_class_variance.png",
            caption="../report/intra_class_variance.rst",
            category="{model}",
            subcategory="{layer}",
            labels={"dataset": "{dataset}", "model": "{model}", "layer": "{layer}", "figure": "intra-class variance"},
        ),
    log:
        "logs/class_variance/{dataset}/{model}/{layer}.log",
    params:
        split=config["analyses"]["split"],
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../../scripts/class_variance.py"


rule summarize_class_variance:
    input:
        summaries=lambda wildcards: [
            f"results/analysis/{d}/{m}/{layer}/class_variance_summary.json"
            for d in DATASETS
            for m in MODELS
            for layer in LAYERS[m]
        ],
    output:
        table="results/summary/class_variance.parquet",
        table_tsv=report(
            "results/summary/class_variance.tsv",
            caption="../report/summary_class_variance.rst",
            category="summary",
            labels={"figure": "class variance, every dataset, model and layer (table)"},
        ),
        figure=report(
            "results/summary/class_variance.png",
            caption="../report/summary_class_variance.rst",
            category="summary",
            labels={"figure": "class variance, every dataset, model and layer"},
        ),
    log:
        "logs/summarize_class_variance.log",
    script:
        "../../scripts/summarize_class_variance.py"
