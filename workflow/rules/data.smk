rule prepare_dataset:
    output:
        dataset_files("{dataset}"),
    log:
        "logs/prepare_dataset/{dataset}.log",
    params:
        spec=lambda wildcards: config["datasets"][wildcards.dataset],
        seed=config["seed"],
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../../scripts/prepare_dataset.py"
