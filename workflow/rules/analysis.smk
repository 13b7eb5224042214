# Per-layer analyses (embeddings, class variance, classifiers, cluster quality, neural collapse, linear layer
# curves, thumbnail maps), per-dataset ones (pixel baselines, CKA) and the summary across everything.
from layeratlas.config import atlas_embedding

ANALYSES = config["analyses"]
# NC3/NC4 read the linear probe's weights, so neural collapse fits the linear probe even with probes off.
_CLASSIFIERS = list(ANALYSES["probes"]["classifiers"]) if ANALYSES["probes"]["enabled"] else []
if ANALYSES["neural_collapse"] and "linear_probe" not in _CLASSIFIERS:
    _CLASSIFIERS.insert(0, "linear_probe")
PROBE_OPTIONS = {**ANALYSES["probes"], "classifiers": _CLASSIFIERS}


# A thumbnail map is drawn by the job that computes its embedding: one process, where the separate
# thumbnail job was ~2 CPU-seconds, nearly all interpreter, imports and Snakemake's own work per job
# (issue 22). Changing t-SNE's perplexity still reruns only the t-SNE jobs; changing the thumbnails'
# options reruns the embeddings they are drawn on.
_THUMBNAILS = (
    [e for e in ANALYSES["thumbnails"]["embeddings"] if e in EMBEDDINGS]
    if ANALYSES["thumbnails"]["enabled"]
    else []
)
_NO_MATCH = "(?!)"

# PCA and UMAP of a layer in one job: a PCA job was ~1.2 CPU-s, ~0.9 of it start-up and imports the UMAP
# job pays anyway, for ~0.1 s of SVD (issue 22). Only where it costs no resumability: neither map gets a
# thumbnail map, and nothing reads the PCA map without the UMAP one (cluster quality and the explorer
# read every map; the atlas and the comparisons read one, so not while that one is PCA). Changing UMAP's
# options then recomputes the PCA too; t-SNE keeps its own job, so a new perplexity reruns only the t-SNE
# maps and what reads them. Otherwise each map keeps a job of its own (rules embed_features*).
_PCA_WITH_UMAP = (
    {"pca", "umap"} <= set(EMBEDDINGS)
    and not {"pca", "umap"} & set(_THUMBNAILS)
    and atlas_embedding(config) != "pca"
)
_SHARED = ["pca", "umap"] if _PCA_WITH_UMAP else []


rule embed_features:
    input:
        features="results/features/{dataset}/{model}",
        dataset=lambda wildcards: dataset_files(wildcards.dataset),
    output:
        table="results/analysis/{dataset}/{model}/{layer}/embedding_{embedding}.parquet",
        figure=report(
            "results/analysis/{dataset}/{model}/{layer}/embedding_{embedding}.png",
            caption="../report/embedding.rst",
            category="{model}",
            subcategory="{layer}",
            labels=_labels("{embedding}", "maps"),
        ),
    log:
        "logs/embed_features/{dataset}/{model}/{layer}/{embedding}.log",
    benchmark:
        "results/benchmarks/embed_features/{dataset}/{model}/{layer}/{embedding}.tsv"
    wildcard_constraints:
        embedding=_one_of([e for e in ("pca", "tsne", "umap") if e not in _THUMBNAILS + _SHARED]) or _NO_MATCH,
    conda:
        "../envs/layeratlas.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        split=config["analyses"]["split"],
        options=lambda wildcards: config["analyses"].get(wildcards.embedding, {}),
        seed=config["seed"],
    script:
        "../../scripts/embed_features.py"


rule embed_features_thumbnails:
    input:
        features="results/features/{dataset}/{model}",
        dataset=lambda wildcards: dataset_files(wildcards.dataset),
    output:
        table="results/analysis/{dataset}/{model}/{layer}/embedding_{embedding}.parquet",
        figure=report(
            "results/analysis/{dataset}/{model}/{layer}/embedding_{embedding}.png",
            caption="../report/embedding.rst",
            category="{model}",
            subcategory="{layer}",
            labels=_labels("{embedding}", "maps"),
        ),
        thumbnails=report(
            "results/analysis/{dataset}/{model}/{layer}/thumbnails_{embedding}.png",
            caption="../report/thumbnails.rst",
            category="{model}",
            subcategory="{layer}",
            labels=_labels("{embedding} with images", "maps"),
        ),
    log:
        "logs/embed_features/{dataset}/{model}/{layer}/{embedding}.log",
    benchmark:
        "results/benchmarks/embed_features/{dataset}/{model}/{layer}/{embedding}.tsv"
    wildcard_constraints:
        embedding=_one_of(_THUMBNAILS) or _NO_MATCH,
    conda:
        "../envs/layeratlas.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        split=config["analyses"]["split"],
        options=lambda wildcards: config["analyses"].get(wildcards.embedding, {}),
        seed=config["seed"],
        thumbnails={
            "max_points": config["analyses"]["thumbnails"]["max_points"],
            "zoom": config["analyses"]["thumbnails"]["zoom"],
        },
    script:
        "../../scripts/embed_features.py"


if _PCA_WITH_UMAP:

    rule embed_pca_umap:
        input:
            features="results/features/{dataset}/{model}",
            dataset=lambda wildcards: dataset_files(wildcards.dataset),
        output:
            # no {embedding} wildcard here: each map's caption names its embedding itself
            pca_table="results/analysis/{dataset}/{model}/{layer}/embedding_pca.parquet",
            pca_figure=report(
                "results/analysis/{dataset}/{model}/{layer}/embedding_pca.png",
                caption="../report/embedding_pca.rst",
                category="{model}",
                subcategory="{layer}",
                labels=_labels("pca", "maps"),
            ),
            umap_table="results/analysis/{dataset}/{model}/{layer}/embedding_umap.parquet",
            umap_figure=report(
                "results/analysis/{dataset}/{model}/{layer}/embedding_umap.png",
                caption="../report/embedding_umap.rst",
                category="{model}",
                subcategory="{layer}",
                labels=_labels("umap", "maps"),
            ),
        log:
            "logs/embed_pca_umap/{dataset}/{model}/{layer}.log",
        benchmark:
            "results/benchmarks/embed_pca_umap/{dataset}/{model}/{layer}.tsv"
        conda:
            "../envs/layeratlas.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=60,
        params:
            split=config["analyses"]["split"],
            # each map's options by name (the schema gives PCA none): UMAP's rerun this job
            options={e: config["analyses"].get(e, {}) for e in _SHARED},
            seed=config["seed"],
        script:
            "../../scripts/embed_features.py"


# A layer's classifiers in one job: the probes, neural collapse (NC3/NC4 read the linear probe just
# fitted) and the Adam-trained linear layer, each of the last two a job of its own before (~1.3 and
# ~2.1 CPU-s, nearly all interpreter, imports and Snakemake's own work; issue 22). Each one's outputs
# are there only while its analysis is on. Changing analyses.linear_adam reruns this whole job (probes
# included, a few CPU-s a layer): the price of one process.
_PROBES = (
    {
        "table": "results/analysis/{dataset}/{model}/{layer}/probes.parquet",
        "table_tsv": report(
            "results/analysis/{dataset}/{model}/{layer}/probes.tsv",
            caption="../report/probes.rst",
            category="{model}",
            subcategory="{layer}",
            labels=_labels("classifiers (.tsv)"),
        ),
        "summary": "results/analysis/{dataset}/{model}/{layer}/probes.json",
        "confusion": report(
            "results/analysis/{dataset}/{model}/{layer}/confusion.png",
            caption="../report/probes.rst",
            category="{model}",
            subcategory="{layer}",
            labels=_labels("confusion matrices"),
        ),
        "linear_probe": "results/analysis/{dataset}/{model}/{layer}/linear_probe.npz",
        "predictions": "results/analysis/{dataset}/{model}/{layer}/predictions.parquet",
    }
    if _CLASSIFIERS
    else {}
)
_NEURAL_COLLAPSE = (
    {
        "nc_table": "results/analysis/{dataset}/{model}/{layer}/neural_collapse.parquet",
        "nc_table_tsv": report(
            "results/analysis/{dataset}/{model}/{layer}/neural_collapse.tsv",
            caption="../report/neural_collapse.rst",
            category="{model}",
            subcategory="{layer}",
            labels=_labels("neural collapse (.tsv)"),
        ),
        "nc_summary": "results/analysis/{dataset}/{model}/{layer}/neural_collapse.json",
    }
    if ANALYSES["neural_collapse"]
    else {}
)
_LINEAR_ADAM = (
    {
        "adam_table": "results/analysis/{dataset}/{model}/{layer}/linear_adam.parquet",
        "adam_table_tsv": report(
            "results/analysis/{dataset}/{model}/{layer}/linear_adam.tsv",
            caption="../report/linear_adam.rst",
            category="{model}",
            subcategory="{layer}",
            labels=_labels("linear layer (Adam) curves (.tsv)"),
        ),
        "adam_summary": "results/analysis/{dataset}/{model}/{layer}/linear_adam.json",
        "adam_figure": report(
            "results/analysis/{dataset}/{model}/{layer}/linear_adam.png",
            caption="../report/linear_adam.rst",
            category="{model}",
            subcategory="{layer}",
            labels=_labels("linear layer (Adam) curves"),
        ),
        "adam_predictions": "results/analysis/{dataset}/{model}/{layer}/linear_adam_predictions.parquet",
    }
    if ANALYSES["linear_adam"]["enabled"]
    else {}
)


# Defined only while one of its analyses is on: a rule needs an output.
if _PROBES or _LINEAR_ADAM:

    rule layer_probes:
        input:
            features="results/features/{dataset}/{model}",
            dataset=lambda wildcards: dataset_files(wildcards.dataset),
        output:
            **_PROBES,
            **_NEURAL_COLLAPSE,
            **_LINEAR_ADAM,
        log:
            "logs/layer_probes/{dataset}/{model}/{layer}.log",
        benchmark:
            "results/benchmarks/layer_probes/{dataset}/{model}/{layer}.tsv"
        conda:
            "../envs/layeratlas.yaml"
        # One thread, as every analysis job: with 2 a 2-core machine ran the probes one after another and
        # blocked all else; many single-threaded jobs of the DAG fill the cores instead.
        threads: 1
        resources:
            mem_mb=4000,
            runtime=120,
        params:
            # each analysis' options only while it is on: changing an analysis that is off reruns nothing
            options=PROBE_OPTIONS if _PROBES else None,
            seed=config["seed"],
            resamples=config["analyses"]["bootstrap"]["resamples"],
            linear_adam=config["analyses"]["linear_adam"] if _LINEAR_ADAM else None,
        script:
            "../../scripts/layer_probes.py"


# Class variance and cluster quality, a layer's class-separation geometry, in one job with the same
# split, seed and resamples: each was a job of its own before (~2.4 and ~1.9 CPU-s, a third of it
# interpreter and imports both paid; issue 22). Each one's outputs are there only while its analysis
# is on, and only cluster quality reads the embeddings: changing t-SNE's perplexity reruns this job
# (class variance's ~1 CPU-s recomputed with it) only while cluster quality is on.
_CLASS_VARIANCE = (
    {
        "intra": "results/analysis/{dataset}/{model}/{layer}/intra_class_variance.parquet",
        "intra_tsv": report(
            "results/analysis/{dataset}/{model}/{layer}/intra_class_variance.tsv",
            caption="../report/intra_class_variance.rst",
            category="{model}",
            subcategory="{layer}",
            labels=_labels("intra-class variance (.tsv)", "variance"),
        ),
        "inter": "results/analysis/{dataset}/{model}/{layer}/inter_class_variance.parquet",
        "inter_tsv": report(
            "results/analysis/{dataset}/{model}/{layer}/inter_class_variance.tsv",
            caption="../report/inter_class_variance.rst",
            category="{model}",
            subcategory="{layer}",
            labels=_labels("inter-class variance (.tsv)", "variance"),
        ),
        "variance_summary": "results/analysis/{dataset}/{model}/{layer}/class_variance_summary.json",
        "heatmap": report(
            "results/analysis/{dataset}/{model}/{layer}/class_variance_heatmap.png",
            caption="../report/class_variance_heatmap.rst",
            category="{model}",
            subcategory="{layer}",
            labels=_labels("inter-class variance heatmap", "variance"),
        ),
        "intra_bar": report(
            "results/analysis/{dataset}/{model}/{layer}/intra_class_variance.png",
            caption="../report/intra_class_variance.rst",
            category="{model}",
            subcategory="{layer}",
            labels=_labels("intra-class variance", "variance"),
        ),
    }
    if ANALYSES["variance"]
    else {}
)
_CLUSTER_QUALITY = (
    {
        "cluster_table": "results/analysis/{dataset}/{model}/{layer}/cluster_quality.parquet",
        "cluster_table_tsv": report(
            "results/analysis/{dataset}/{model}/{layer}/cluster_quality.tsv",
            caption="../report/cluster_quality.rst",
            category="{model}",
            subcategory="{layer}",
            labels=_labels("cluster quality (.tsv)"),
        ),
        "cluster_summary": "results/analysis/{dataset}/{model}/{layer}/cluster_quality.json",
    }
    if ANALYSES["cluster_quality"]
    else {}
)


if _CLASS_VARIANCE or _CLUSTER_QUALITY:

    rule class_separation:
        input:
            features="results/features/{dataset}/{model}",
            dataset=lambda wildcards: dataset_files(wildcards.dataset),
            embeddings=expand(
                "results/analysis/{{dataset}}/{{model}}/{{layer}}/embedding_{embedding}.parquet",
                embedding=EMBEDDINGS if _CLUSTER_QUALITY else [],
            ),
        output:
            **_CLASS_VARIANCE,
            **_CLUSTER_QUALITY,
        log:
            "logs/class_separation/{dataset}/{model}/{layer}.log",
        benchmark:
            "results/benchmarks/class_separation/{dataset}/{model}/{layer}.tsv"
        conda:
            "../envs/layeratlas.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=60,
        params:
            split=config["analyses"]["split"],
            embeddings=EMBEDDINGS if _CLUSTER_QUALITY else [],
            seed=config["seed"],
            resamples=config["analyses"]["bootstrap"]["resamples"],
        script:
            "../../scripts/class_separation.py"


rule pixel_baselines:
    input:
        dataset=lambda wildcards: dataset_files(wildcards.dataset),
    output:
        table="results/analysis/{dataset}/pixels/nearest_class_mean.parquet",
        table_tsv=report(
            "results/analysis/{dataset}/pixels/nearest_class_mean.tsv",
            caption="../report/pixel_baselines.rst",
            category="summary",
            labels={"dataset": "{dataset}", "figure": "pixel nearest class mean (.tsv)"},
        ),
        figure=report(
            "results/analysis/{dataset}/pixels/class_means.png",
            caption="../report/pixel_baselines.rst",
            category="summary",
            labels={"dataset": "{dataset}", "figure": "class-mean images"},
        ),
    log:
        "logs/pixel_baselines/{dataset}.log",
    conda:
        "../envs/layeratlas.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../../scripts/pixel_baselines.py"


# CKA's table, its figure and each model's layer x layer block in one job: the block of a model was a job
# of its own (~1 CPU-s each, nearly all interpreter, imports and Snakemake's own work: issue 22).
rule cka:
    input:
        features=lambda wildcards: [f"results/features/{wildcards.dataset}/{m}" for m in MODELS],
    output:
        table="results/analysis/{dataset}/cka.parquet",
        table_tsv=report(
            "results/analysis/{dataset}/cka.tsv",
            caption="../report/cka.rst",
            category="summary",
            labels={"dataset": "{dataset}", "figure": "CKA, every model and layer (.tsv)"},
        ),
        figure=report(
            "results/analysis/{dataset}/cka.png",
            caption="../report/cka.rst",
            category="summary",
            labels={"dataset": "{dataset}", "figure": "CKA, every model and layer"},
        ),
        models=[
            report(
                f"results/analysis/{{dataset}}/{m}/cka.png",
                caption="../report/cka.rst",
                category=m,
                subcategory="across layers",
                labels={"dataset": "{dataset}", "model": m, "figure": "CKA between layers"},
            )
            for m in MODELS
        ],
    log:
        "logs/cka/{dataset}.log",
    benchmark:
        "results/benchmarks/cka/{dataset}.tsv"
    conda:
        "../envs/layeratlas.yaml"
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        layers=LAYERS,
        split=config["analyses"]["split"],
        resamples=config["analyses"]["bootstrap"]["resamples"],
        samples=config["analyses"]["bootstrap"]["cka_samples"],
        seed=config["seed"],
    script:
        "../../scripts/cka.py"


rule summarize_layers:
    input:
        summaries=lambda wildcards: [
            summary
            for d in DATASETS
            for m in MODELS
            for layer in LAYERS[m]
            for summary in layer_summaries(d, m, layer)
        ],
        extractors=expand("models/{model}/extractor.json", model=MODELS),
    output:
        table="results/summary/layers.parquet",
        table_csv="results/summary/layers.csv",
        table_tsv=report(
            "results/summary/layers.tsv",
            caption="../report/summary_layers.rst",
            category="summary",
            labels={"dataset": "all", "figure": "all layers, summary (.tsv)"},
        ),
    log:
        "logs/summarize_layers.log",
    conda:
        "../envs/layeratlas.yaml"
    params:
        layers=LAYERS,
    script:
        "../../scripts/summarize_layers.py"


# Every model's figure in one job: they read the same summary table, so they rerun together anyway, and
# a job per model was ~2 CPU-s of start-up and imports for ~0.5 s of drawing (issue 22).
rule plot_metrics_vs_depth:
    input:
        table="results/summary/layers.parquet",
    output:
        [
            report(
                f"results/summary/metrics_vs_depth_{m}.png",
                caption="../report/metrics_vs_depth.rst",
                category="summary",
                labels={"dataset": "all", "figure": f"metrics versus depth: {m}"},
            )
            for m in MODELS
        ],
    log:
        "logs/plot_metrics_vs_depth.log",
    conda:
        "../envs/layeratlas.yaml"
    params:
        models=MODELS,
    script:
        "../../scripts/plot_metrics_vs_depth.py"
