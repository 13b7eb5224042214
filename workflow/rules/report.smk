# The report's own pages (results/report/): the front page written from the summary table, the atlas grid
# and depth profile per dataset, model pairs side by side, dataset overviews and every result table as HTML.
from layeratlas.config import atlas_embedding, model_pairs
from layeratlas.report.front_page import shared_layers

REPORT = config["report"]
# The report's keys, resolved once in layeratlas.config (check_config has refused bad ones).
ATLAS_EMBEDDING = atlas_embedding(config)  # report.atlas_embedding, or the first computed embedding
PAIRS = model_pairs(config)  # pretrained vs fine-tuned pairs, then report.pairs
# The paired tests behind the front page's findings and their page (rule comparisons, when some classifier
# keeps per-image predictions): the front page and the "comparisons" category use them only where it runs.
COMPARISONS = "results/summary/comparisons"


rule report_atlas:
    input:
        maps=lambda wildcards: list(atlas_maps(wildcards).values()),
        summary="results/summary/layers.parquet",
        dataset="results/datasets/{dataset}/dataset.json",
    output:
        atlas=report(
            "results/report/{dataset}/atlas.png",
            caption="../report/atlas.rst",
            category="atlas",
            labels={"dataset": "{dataset}", "figure": "1 atlas: every model and layer"},
        ),
        depth=report(
            "results/report/{dataset}/depth_profile.png",
            caption="../report/depth_profile.rst",
            category="atlas",
            labels={"dataset": "{dataset}", "figure": "2 depth profile: every model overlaid"},
        ),
    log:
        "logs/report_atlas/{dataset}.log",
    conda:
        "../envs/layeratlas.yaml"
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        maps=atlas_maps,
        layers=LAYERS,
        method=ATLAS_EMBEDDING,
    script:
        "../../scripts/report_atlas.py"


# A job per pair and layer, not per dataset: Snakemake renders a caption with its job's wildcards, and
# compare.rst names the pair and the layer (~1.2 CPU-s of start-up per job would be saved, not the caption).
rule report_compare:
    input:
        unpack(compare_inputs),
    output:
        maps=report(
            "results/report/{dataset}/compare/{reference}_vs_{other}/{layer}/maps.png",
            caption="../report/compare.rst",
            category="comparisons",
            subcategory="{reference} vs {other}",
            labels={"dataset": "{dataset}", "layer": "{layer}", "figure": "1 maps on shared axes"},
        ),
        intra=report(
            "results/report/{dataset}/compare/{reference}_vs_{other}/{layer}/intra_class_variance.png",
            caption="../report/compare.rst",
            category="comparisons",
            subcategory="{reference} vs {other}",
            labels={
                "dataset": "{dataset}",
                "layer": "{layer}",
                "figure": "2 intra-class variance per class",
            },
        ),
        inter=report(
            "results/report/{dataset}/compare/{reference}_vs_{other}/{layer}/inter_class_variance.png",
            caption="../report/compare.rst",
            category="comparisons",
            subcategory="{reference} vs {other}",
            labels={"dataset": "{dataset}", "layer": "{layer}", "figure": "3 inter-class variance"},
        ),
    log:
        "logs/report_compare/{dataset}/{reference}_vs_{other}/{layer}.log",
    wildcard_constraints:
        reference=_one_of(MODELS),
        other=_one_of(MODELS),
    conda:
        "../envs/layeratlas.yaml"
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        method=ATLAS_EMBEDDING,
    script:
        "../../scripts/report_compare.py"


rule dataset_overview:
    input:
        dataset=lambda wildcards: dataset_files(wildcards.dataset),
    output:
        counts="results/report/datasets/{dataset}/class_counts.parquet",
        counts_tsv=report(
            "results/report/datasets/{dataset}/class_counts.tsv",
            caption="../report/dataset_overview.rst",
            category="datasets",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "images per class and split (.tsv)"},
        ),
        page=report(
            "results/report/datasets/{dataset}/class_counts.html",
            caption="../report/dataset_overview.rst",
            category="datasets",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "images per class and split (table)"},
        ),
        grid=report(
            "results/report/datasets/{dataset}/samples.png",
            caption="../report/dataset_overview.rst",
            category="datasets",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "example images of every class"},
        ),
    log:
        "logs/dataset_overview/{dataset}.log",
    conda:
        "../envs/layeratlas.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../../scripts/dataset_overview.py"


# Every table a user is pointed to as a readable page (layeratlas.report.tables), all in one job: a job per
# page, then per layer, cost a process start (~0.6 CPU-s) for milliseconds of rendering (~25 ms a page). It
# waits for the summary, as it did, so the layers' pages add about a second to a job at the run's end.
rule study_tables:
    input:
        [table_source(t) for t in report_tables()],
    output:
        [_table_page(t) for t in report_tables()],
    log:
        "logs/study_tables.log",
    conda:
        "../envs/layeratlas.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        titles=[_table_report(t)[3] for t in report_tables()],
    script:
        "../../scripts/html_tables.py"


rule front_page:
    input:
        summary="results/summary/layers.parquet",
        figures=lambda wildcards: list(front_page_figures(wildcards).values()),
        cka=lambda wildcards: list(front_page_cka(wildcards).values()),
        explorers=lambda wildcards: list(front_page_explorers(wildcards).values()),
        # the tests and their table, where a rule makes them (any(...) runs once every rule is known)
        comparisons=lambda wildcards: (
            [f"{COMPARISONS}.parquet", "results/report/comparisons.html"]
            if any(r.is_producer(f"{COMPARISONS}.parquet") for r in workflow.rules)
            else []
        ),
        training=lambda wildcards: [f"results/training/{m}/metrics.json" for m in MODELS if trained(m)],
    output:
        page=report(
            "results/report/front_page.html",
            caption="../report/front_page.rst",
            category="atlas",
            labels={"dataset": "all", "figure": "0 front page"},
        ),
        findings="results/report/findings.json",
    log:
        "logs/front_page.log",
    conda:
        "../envs/layeratlas.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        figures=front_page_figures,
        cka=front_page_cka,
        explorers=front_page_explorers,
        training=lambda wildcards: {m: f"results/training/{m}/metrics.json" for m in MODELS if trained(m)},
        # what the "comparisons" category holds: the page links it only when something is in it
        pairs_built=bool(ANALYSES["variance"] and ATLAS_EMBEDDING and report_pairs()),
    script:
        "../../scripts/front_page.py"
