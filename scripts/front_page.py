from layeratlas.logs import log_to_file
from layeratlas.stages import report as stages

log_to_file(snakemake.log[0])
figures = {}
for key, path in snakemake.params.figures.items():  # "<dataset>/atlas" -> results/report/<dataset>/atlas.png
    dataset, kind = key.split("/")
    figures.setdefault(dataset, {})["atlas" if kind == "atlas" else "depth"] = path
stages.write_front_page(
    snakemake.config,
    snakemake.input.summary,
    snakemake.params.cka,
    figures,
    snakemake.output.page,
    snakemake.output.findings,
    snakemake.params.explorers,  # results/explorer/<dataset>.html, when the explorer is built
    comparisons=snakemake.input.comparisons[0] if snakemake.input.comparisons else None,
    training=snakemake.params.training,  # model -> results/training/<model>/metrics.json
    built=[
        k
        for k, on in (("tests", bool(snakemake.input.comparisons)), ("pairs", snakemake.params.pairs_built))
        if on
    ],
)
