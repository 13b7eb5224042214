rule export_model:
    input:
        checkpoint_if_trained,
    output:
        onnx="models/{model}/extractor.onnx",
        torchscript="models/{model}/extractor.torchscript.pt",
        metadata="models/{model}/extractor.json",
    log:
        "logs/export_model/{model}.log",
    benchmark:
        "results/benchmarks/export_model/{model}.tsv"
    params:
        spec=lambda wildcards: config["models"][wildcards.model],
        seed=config["seed"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../../scripts/export_model.py"
