from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import report as stages

log_to_file(snakemake.log[0])
i, p = snakemake.input, snakemake.params
stages.compare_pairs(
    snakemake.wildcards.dataset,
    p.pairs,
    list(i.maps),
    list(i.intra),
    list(i.inter),
    Path(i.dataset).parent,
    p.method,
    list(snakemake.output),
)
