# Seeing inside the network (analyses.inspection): per model the filter grids and the layer shape table,
# per (dataset, model) the dead units of every ReLU layer, per (dataset, model, layer) activation maps of
# chosen images and the top patches of the first channels. From the weights the features come from.
INSPECTION = config["analyses"]["inspection"]


# Per (dataset, model), one job draws every layer's activation maps and top patches and counts the dead
# units: the network is loaded and torch imported once, not once per layer (issue 22: 7 inspect_layer
# jobs of ~12 CPU-s, ~5 of them start-up, and 3 dead_units jobs of ~8). A job per layer bought no
# resumability: its params hold the model's spec, layers included, so a changed layer reran them all. A
# rule per model, since a rule's outputs cannot follow the model's layers.
# The model's own outputs (filter grids, layer shape table) are drawn by the job of the config's first
# dataset, from the same load (issue 22: a job of their own, inspect_network, paid ~4 of its ~5.6 CPU-s
# for torch's import and the load again). Every output of a rule holds the same wildcards, so that rule
# has the first dataset's name in its paths, and the other datasets' jobs come from a second rule,
# inspect_layers_<model>_other_datasets, without those outputs (its {dataset} excludes the first).
for _model in MODELS if INSPECTION["enabled"] else []:
    for _dataset in [DATASETS[0]] + ["{dataset}"] * (len(DATASETS) > 1):
        _first = _dataset == DATASETS[0]

        rule:
            name:
                f"inspect_layers_{_model}" if _first else f"inspect_layers_{_model}_other_datasets"
            input:
                checkpoint=checkpoint_if_trained,
                weights=untrained_weights_input,  # models.<model>.weights as a local file
                dataset=dataset_files(_dataset),
            output:
                **(
                    dict(
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
                    )
                    if _first
                    else {}
                ),
                activations=[
                    report(
                        directory(f"results/inspection/{_dataset}/{{model}}/{layer}/activations"),
                        patterns=["sample{sample}.png"],
                        caption="../report/inspection_activations.rst",
                        category="{model}",
                        subcategory=layer,
                        labels=activation_labels(layer, DATASETS[0] if _first else None),
                    )
                    for layer in LAYERS[_model]
                ],
                tables=[
                    f"results/inspection/{_dataset}/{{model}}/{layer}/top_patches.parquet"
                    for layer in LAYERS[_model]
                ],
                tables_tsv=[
                    report(
                        f"results/inspection/{_dataset}/{{model}}/{layer}/top_patches.tsv",
                        caption="../report/inspection_patches.rst",
                        category="{model}",
                        subcategory=layer,
                        labels=_inspection_labels("top patches (.tsv)", dataset=_dataset, layer=layer),
                    )
                    for layer in LAYERS[_model]
                ],
                figures=[
                    report(
                        f"results/inspection/{_dataset}/{{model}}/{layer}/top_patches.png",
                        caption="../report/inspection_patches.rst",
                        category="{model}",
                        subcategory=layer,
                        labels=_inspection_labels("top patches", dataset=_dataset, layer=layer),
                    )
                    for layer in LAYERS[_model]
                ],
                dead_table=f"results/inspection/{_dataset}/{{model}}/dead_units.parquet",
                dead_table_tsv=report(
                    f"results/inspection/{_dataset}/{{model}}/dead_units.tsv",
                    caption="../report/inspection_dead_units.rst",
                    category="{model}",
                    subcategory="network",
                    labels=_inspection_labels("dead units (.tsv)", dataset=_dataset),
                ),
                dead_figure=report(
                    f"results/inspection/{_dataset}/{{model}}/dead_units.png",
                    caption="../report/inspection_dead_units.rst",
                    category="{model}",
                    subcategory="network",
                    labels=_inspection_labels("dead units", dataset=_dataset),
                ),
            log:
                f"logs/inspect_layers/{_dataset}/{{model}}.log",
            benchmark:
                f"results/benchmarks/inspect_layers/{_dataset}/{{model}}.tsv"
            wildcard_constraints:
                model=re.escape(_model),
                dataset=_one_of(DATASETS[1:]),  # the other datasets' rule: not the first one's jobs
            conda:
                "../envs/layeratlas.yaml"
            threads: job_threads(2)
            resources:
                mem_mb=4000,
                runtime=60,
            params:
                dataset=_dataset,
                spec=lambda wildcards: config["models"][wildcards.model],
                layers=LAYERS[_model],
                split=config["analyses"]["split"],
                seed=config["seed"],
                options=INSPECTION,
            script:
                "../../scripts/inspect_layers.py"
