rule extract_features:
    input:
        onnx="models/{model}/extractor.onnx",
        metadata="models/{model}/extractor.json",
        dataset=lambda wildcards: dataset_files(wildcards.dataset),
    output:
        # One folder per (dataset, model): one forward pass writes every layer's <layer>.npy at once.
        features=directory("results/features/{dataset}/{model}"),
    log:
        "logs/extract_features/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/extract_features/{dataset}/{model}.tsv"
    # after export, before every analysis (the critical path; see train_model)
    priority: 10
    conda:
        "../envs/layeratlas.yaml"
    threads: job_threads(2)
    resources:
        gpu=GPU,
        mem_mb=4000,
        runtime=120,
    params:
        # batch size, provider, precision, session options: the schema's `extraction` block
        extraction=config["extraction"],
    script:
        "../../scripts/extract_features.py"
