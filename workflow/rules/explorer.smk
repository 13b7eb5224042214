# The interactive embedding explorer (analyses.explorer): per dataset one self-contained HTML page with the
# 2-D map of every (model, layer) of the run, all linked (a selection in one map highlights the same images
# in every map), the image on hover. It is drawn from the computed embeddings, so it needs some.
from layeratlas.config import explorer_embedding

EXPLORER_EMBEDDING = explorer_embedding(config)  # None: no explorer (check_config refused a bad one)


rule embedding_explorer:
    input:
        unpack(explorer_inputs),
    output:
        page=report(
            "results/explorer/{dataset}.html",
            caption="../report/explorer.rst",
            category="explorer",
            labels={"dataset": "{dataset}", "figure": "embedding explorer"},
        ),
        # every configured point, to open from disk (the report's page is capped by its byte budget)
        full="results/explorer/{dataset}.full.html",
    log:
        "logs/embedding_explorer/{dataset}.log",
    benchmark:
        "results/benchmarks/embedding_explorer/{dataset}.tsv"
    conda:
        "../envs/layeratlas.yaml"
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        embedding=EXPLORER_EMBEDDING,
        max_points=config["analyses"]["explorer"]["max_points"],
        seed=config["seed"],
    script:
        "../../scripts/embedding_explorer.py"
