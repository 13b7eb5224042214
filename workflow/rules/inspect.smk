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


# Per (dataset, model), one job draws every layer's activation maps and top patches and counts the dead
# units: the network is loaded and torch imported once, not once per layer (issue 22: 7 inspect_layer
# jobs of ~12 CPU-s, ~5 of them start-up, and 3 dead_units jobs of ~8). A job per layer bought no
# resumability: its params hold the model's spec, layers included, so a changed layer reran them all. A
# rule per model, since a rule's outputs cannot follow the model's layers.
for _model in MODELS if INSPECTION["enabled"] else []:

    rule:
        name:
            f"inspect_layers_{_model}"
        input:
            checkpoint=checkpoint_if_trained,
            weights=untrained_weights_input,  # models.<model>.weights as a local file
            dataset=lambda wildcards: dataset_files(wildcards.dataset),
        output:
            activations=[
                report(
                    directory(f"results/inspection/{{dataset}}/{{model}}/{layer}/activations"),
                    patterns=["sample{sample}.png"],
                    caption="../report/inspection_activations.rst",
                    category="{model}",
                    subcategory=layer,
                    labels=activation_labels(layer),
                )
                for layer in LAYERS[_model]
            ],
            tables=[
                f"results/inspection/{{dataset}}/{{model}}/{layer}/top_patches.parquet"
                for layer in LAYERS[_model]
            ],
            tables_tsv=[
                report(
                    f"results/inspection/{{dataset}}/{{model}}/{layer}/top_patches.tsv",
                    caption="../report/inspection_patches.rst",
                    category="{model}",
                    subcategory=layer,
                    labels=_inspection_labels("top patches (.tsv)", dataset="{dataset}", layer=layer),
                )
                for layer in LAYERS[_model]
            ],
            figures=[
                report(
                    f"results/inspection/{{dataset}}/{{model}}/{layer}/top_patches.png",
                    caption="../report/inspection_patches.rst",
                    category="{model}",
                    subcategory=layer,
                    labels=_inspection_labels("top patches", dataset="{dataset}", layer=layer),
                )
                for layer in LAYERS[_model]
            ],
            dead_table="results/inspection/{dataset}/{model}/dead_units.parquet",
            dead_table_tsv=report(
                "results/inspection/{dataset}/{model}/dead_units.tsv",
                caption="../report/inspection_dead_units.rst",
                category="{model}",
                subcategory="network",
                labels=_inspection_labels("dead units (.tsv)", dataset="{dataset}"),
            ),
            dead_figure=report(
                "results/inspection/{dataset}/{model}/dead_units.png",
                caption="../report/inspection_dead_units.rst",
                category="{model}",
                subcategory="network",
                labels=_inspection_labels("dead units", dataset="{dataset}"),
            ),
        log:
            "logs/inspect_layers/{dataset}/{model}.log",
        benchmark:
            "results/benchmarks/inspect_layers/{dataset}/{model}.tsv"
        wildcard_constraints:
            model=re.escape(_model),
        conda:
            "../envs/layeratlas.yaml"
        threads: job_threads(2)
        resources:
            mem_mb=4000,
            runtime=60,
        params:
            spec=lambda wildcards: config["models"][wildcards.model],
            layers=LAYERS[_model],
            split=config["analyses"]["split"],
            seed=config["seed"],
            options=INSPECTION,
        script:
            "../../scripts/inspect_layers.py"
