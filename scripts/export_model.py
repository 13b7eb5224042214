from layeratlas.logs import log_to_file
from layeratlas.stages import export

log_to_file(snakemake.log[0])
export.export_model(
    snakemake.wildcards.model,
    snakemake.params.spec,
    checkpoint=snakemake.input.get("checkpoint"),
    seed=snakemake.params.seed,
    onnx_path=snakemake.output.onnx,
    torchscript_path=snakemake.output.torchscript,
    metadata_path=snakemake.output.metadata,
)
