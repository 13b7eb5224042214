rule export_model:
    input:
        unpack(export_inputs),  # checkpoint (trained) or weights (a local file, untrained), or nothing
    output:
        onnx="models/{model}/extractor.onnx",
        torchscript="models/{model}/extractor.torchscript.pt",
        metadata="models/{model}/extractor.json",
    log:
        "logs/export_model/{model}.log",
    benchmark:
        "results/benchmarks/export_model/{model}.tsv"
    # after training, before every analysis (the critical path; see train_model)
    priority: 20
    conda:
        "../envs/layeratlas.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        spec=lambda wildcards: config["models"][wildcards.model],
        seed=config["seed"],
    script:
        "../../scripts/export_model.py"
