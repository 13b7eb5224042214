# Seeing inside the network (analyses.inspection): per model the filter grids and the layer shape table,
# per (dataset, model) the dead units of every ReLU layer, per (dataset, model, layer) activation maps of
# chosen images and the top patches of the first channels. From the weights the features come from.
INSPECTION = config["analyses"]["inspection"]


rule inspect_network:
    input:
        checkpoint=checkpoint_if_trained,
        weights=untrained_weights_input,  # models.<model>.weights as a local file
    output:
        filters=report(
            directory("results/inspection/{model}/filters"),
            patterns=["{conv}.png"],
            caption="../report/inspection_filters.rst",
            category="{model}",
            subcategory="network",
            labels=_inspection_labels("filters: {conv}"),
        ),
        table="results/inspection/{model}/layers.parquet",
        table_tsv=report(
            "results/inspection/{model}/layers.tsv",
            caption="../report/inspection_layers.rst",
            category="{model}",
            subcategory="network",
            labels=_inspection_labels("layer shapes (.tsv)"),
        ),
    log:
        "logs/inspect_network/{model}.log",
    benchmark:
        "results/benchmarks/inspect_network/{model}.tsv"
    conda:
        "../envs/layeratlas.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        spec=lambda wildcards: config["models"][wildcards.model],
        seed=config["seed"],
        options=INSPECTION,
    script:
        "../../scripts/inspect_network.py"


rule inspect_layer:
    input:
        checkpoint=checkpoint_if_trained,
        weights=untrained_weights_input,  # models.<model>.weights as a local file
        dataset=lambda wildcards: dataset_files(wildcards.dataset),
    output:
        activations=report(
            directory("results/inspection/{dataset}/{model}/{layer}/activations"),
            patterns=["sample{sample}.png"],
            caption="../report/inspection_activations.rst",
            category="{model}",
            subcategory="{layer}",
            labels=_activation_labels,
        ),
        table="results/inspection/{dataset}/{model}/{layer}/top_patches.parquet",
        table_tsv=report(
            "results/inspection/{dataset}/{model}/{layer}/top_patches.tsv",
            caption="../report/inspection_patches.rst",
            category="{model}",
            subcategory="{layer}",
            labels=_inspection_labels("top patches (.tsv)", dataset="{dataset}", layer="{layer}"),
        ),
        figure=report(
            "results/inspection/{dataset}/{model}/{layer}/top_patches.png",
            caption="../report/inspection_patches.rst",
            category="{model}",
            subcategory="{layer}",
            labels=_inspection_labels("top patches", dataset="{dataset}", layer="{layer}"),
        ),
    log:
        "logs/inspect_layer/{dataset}/{model}/{layer}.log",
    benchmark:
        "results/benchmarks/inspect_layer/{dataset}/{model}/{layer}.tsv"
    conda:
        "../envs/layeratlas.yaml"
    threads: job_threads(2)
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        spec=lambda wildcards: config["models"][wildcards.model],
        split=config["analyses"]["split"],
        seed=config["seed"],
        options=INSPECTION,
    script:
        "../../scripts/inspect_layer.py"


rule dead_units:
    input:
        checkpoint=checkpoint_if_trained,
        weights=untrained_weights_input,  # models.<model>.weights as a local file
        dataset=lambda wildcards: dataset_files(wildcards.dataset),
    output:
        table="results/inspection/{dataset}/{model}/dead_units.parquet",
        table_tsv=report(
            "results/inspection/{dataset}/{model}/dead_units.tsv",
            caption="../report/inspection_dead_units.rst",
            category="{model}",
            subcategory="network",
            labels=_inspection_labels("dead units (.tsv)", dataset="{dataset}"),
        ),
        figure=report(
            "results/inspection/{dataset}/{model}/dead_units.png",
            caption="../report/inspection_dead_units.rst",
            category="{model}",
            subcategory="network",
            labels=_inspection_labels("dead units", dataset="{dataset}"),
        ),
    log:
        "logs/dead_units/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/dead_units/{dataset}/{model}.tsv"
    conda:
        "../envs/layeratlas.yaml"
    threads: job_threads(2)
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        spec=lambda wildcards: config["models"][wildcards.model],
        split=config["analyses"]["split"],
        seed=config["seed"],
        options=INSPECTION,
    script:
        "../../scripts/dead_units.py"
