# Downloaded sources land in resources/<source>/ (files missing offline stop the run in common.smk).
from layeratlas.stages.data import source_checksums


rule download_dataset:
    output:
        "resources/{source}/checksums.json",
    log:
        "logs/download_dataset/{source}.log",
    wildcard_constraints:
        source="mnist|fashion_mnist|cifar10_c|cifar10",
    conda:
        "../envs/layeratlas.yaml"
    resources:
        mem_mb=1000,
        runtime=120,
    params:
        checksums=lambda wildcards: source_checksums(wildcards.source, config["datasets"]),
    script:
        "../../scripts/download_dataset.py"


rule prepare_dataset:
    input:
        unpack(dataset_source_files),
    output:
        images="results/datasets/{dataset}/images.npy",
        index="results/datasets/{dataset}/index.parquet",
        metadata="results/datasets/{dataset}/dataset.json",
        skipped=report(  # unreadable images left out (on_unreadable: skip)
            "results/datasets/{dataset}/skipped_files.tsv",
            caption="../report/skipped_files.rst",
            category="datasets",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "skipped image files (.tsv)"},
        ),
        skipped_parquet="results/datasets/{dataset}/skipped_files.parquet",
    log:
        "logs/prepare_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_dataset/{dataset}.tsv"
    conda:
        "../envs/layeratlas.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        spec=lambda wildcards: config["datasets"][wildcards.dataset],
        seed=config["seed"],
        resources="resources",
    script:
        "../../scripts/prepare_dataset.py"
