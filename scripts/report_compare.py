from pathlib import Path

from layeratlas.logs import log_to_file
from layeratlas.stages import report as stages

log_to_file(snakemake.log[0])
i, w = snakemake.input, snakemake.wildcards
stages.compare_pair(
    w.dataset,
    w.layer,
    [w.reference, w.other],
    [i.maps_a, i.maps_b],
    [i.intra_a, i.intra_b],
    [i.inter_a, i.inter_b],
    Path(i.dataset).parent,
    snakemake.params.method,
    snakemake.output.maps,
    snakemake.output.intra,
    snakemake.output.inter,
)
