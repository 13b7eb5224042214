from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.report import explorer

log_to_file(snakemake.log[0])
explorer.write_explorer(
    snakemake.wildcards.dataset,
    list(snakemake.input.embeddings),
    Path(snakemake.input.dataset[0]).parent,
    embedding=snakemake.params.embedding,
    max_points=snakemake.params.max_points,
    seed=snakemake.params.seed,
    output=snakemake.output.page,
    full_output=snakemake.output.full,
)
