# Config validation, wildcard constraints, target lists and input functions. No rule lives here.
import os
import re

from snakemake.exceptions import WorkflowError

from layeratlas.checks import check_config
from layeratlas.config import ConfigError
from layeratlas.models.sweeps import seed_groups, sweep_groups
from layeratlas.models.weights import local_weights_file
from layeratlas.robustness.finetune import training_datasets
from layeratlas.data.downloads import DOWNLOADABLE
from layeratlas.devices import maybe_nvidia_gpu

try:
    # The one checker `layeratlas validate` runs too: every problem at once, one line each. The checks
    # against models and files run before any job, once (not again in every cluster job). In place:
    # rules and scripts (snakemake.config) see the validated config with defaults filled in.
    # The checks that build the models (torch's import included) answer from a cache when the same model
    # specs were checked before (layeratlas.checks.model_checks): --report and dry runs start sooner.
    checked = check_config(config, deep=workflow.is_main_process, files=workflow.configfiles, cache=True)
    config.update(checked)
except ConfigError as error:
    raise WorkflowError(str(error)) from None

# Jobs share the cores: an OpenMP thread (torch) that waits for work sleeps instead of spinning. A 2-thread
# training spun away 4.6x the CPU seconds of a sleeping one while other jobs ran, for bit-identical
# weights (issue 22). Jobs inherit this environment; a user's own setting is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Jobs that use a GPU when there is one (training, extraction) claim Snakemake's `gpu` resource only on a
# machine that may have one, so `--resources gpu=N` bounds how many share it. On a CPU-only machine the claim
# shared out nothing and serialised those jobs: a training held the "GPU" while an extraction waited and a
# core sat idle (issue 22). Cluster profiles set it themselves (set-resources in profiles/slurm).
GPU = 1 if maybe_nvidia_gpu() else 0

DATASETS = list(config["datasets"])
MODELS = list(config["models"])
LAYERS = {model: list(spec["layers"]) for model, spec in config["models"].items()}
EMBEDDINGS = config["analyses"]["embeddings"]
SWEEPS = sweep_groups(config["models"])  # sweep name -> its member models (models.<name>.sweep)
SEED_GROUPS = seed_groups(config["models"])  # model trained once per seed -> its runs (train.seeds)


def _one_of(names):
    return "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))


wildcard_constraints:
    dataset=_one_of(DATASETS),
    model=_one_of(MODELS),
    layer=_one_of([layer for layers in LAYERS.values() for layer in layers]),
    embedding=_one_of(["pca", "tsne", "umap"]),


def trained(model):
    return bool(config["models"][model].get("train"))


def job_threads(wanted):
    """Threads of a torch job (training, extraction, inspection): ``wanted``, but 1 on a machine of 2 cores
    or fewer. There a 2-thread job needs every core, and Snakemake keeps none free for a waiting job: a ready
    extraction waited while 1-thread jobs kept taking the other core (issue 22). Measured with 1 and 2
    threads: the features are the same bit for bit; the top patches are the same images, ranks and boxes,
    their responses within 2e-6 relative (float32 sums in another order). On a cluster --set-threads
    decides."""
    try:
        cores = workflow.cores
    except WorkflowError:  # no --cores (e.g. --report, --lint): no job runs
        return wanted
    return 1 if cores <= 2 else wanted


def sweep_metrics(wildcards):
    return [f"results/training/{m}/metrics.json" for m in SWEEPS[wildcards.sweep]]


def dataset_files(dataset):
    return multiext(f"results/datasets/{dataset}/", "images.npy", "index.parquet", "dataset.json")


def dataset_source_files(wildcards):
    """The verified-download manifest of a downloaded source (written by download_dataset)."""
    source = config["datasets"][wildcards.dataset]["source"]
    return {"checksums": f"resources/{source}/checksums.json"} if source in DOWNLOADABLE else {}


def training_dataset(wildcards):
    # train.dataset: one name or several (pooled; layeratlas.robustness.finetune): each one's files
    names = training_datasets(config["models"][wildcards.model]["train"]["dataset"], config["datasets"])
    return [path for name in names for path in dataset_files(name)]


def checkpoint_if_trained(wildcards):
    snapshot = config["models"][wildcards.model].get("snapshot_of")
    if snapshot:  # train.snapshots: the training run's folder of per-epoch checkpoints
        return [f"models/{snapshot['model']}/snapshots"]
    return [f"models/{wildcards.model}/checkpoint.pt"] if trained(wildcards.model) else []


def weights_input(wildcards):
    """models.<model>.weights as a file: an input of training (so a changed file retrains)."""
    path = local_weights_file(config["models"][wildcards.model])
    return [path] if path else []


def untrained_weights_input(wildcards):
    """The local weights file that jobs of an untrained model read (a trained one's read its checkpoint)."""
    return [] if checkpoint_if_trained(wildcards) else weights_input(wildcards)


def export_inputs(wildcards):
    """The trained checkpoint (or snapshot folder), else the local weights file the export reads."""
    if trained_files := checkpoint_if_trained(wildcards):
        return {"checkpoint": trained_files[0]}
    path = local_weights_file(config["models"][wildcards.model])
    return {"weights": path} if path else {}


def layer_targets(dataset, model, layer):
    base = f"results/analysis/{dataset}/{model}/{layer}"
    targets = [f"{base}/embedding_{e}.png" for e in EMBEDDINGS]
    if config["analyses"]["variance"]:
        targets += [f"{base}/class_variance_heatmap.png", f"{base}/intra_class_variance.png"]
    return targets + analysis_layer_targets(dataset, model, layer)  # analysis.smk


def all_targets():
    targets = [f"models/{m}/extractor.torchscript.pt" for m in MODELS]
    targets += [
        f"results/training/{m}/{figure}.png"
        for m in MODELS
        if trained(m)
        for figure in ("history", "confusion_matrix", "top_losses")
    ]
    targets += [
        f"results/training/sweeps/{sweep}/comparison.png"
        for sweep, members in SWEEPS.items()
        if all(trained(m) for m in members)
    ]
    for dataset in DATASETS:
        for model in MODELS:
            for layer in LAYERS[model]:
                targets += layer_targets(dataset, model, layer)
    targets += robustness_targets()  # robustness.smk: results/robustness/ (robustness: block)
    targets += inspection_targets()  # inspect.smk: results/inspection/ (analyses.inspection)
    targets += report_targets()  # report.smk: results/report/ (front page, atlas, comparisons, tables)
    targets += [f"results/explorer/{d}.html" for d in DATASETS] if EXPLORER_EMBEDDING else []  # explorer.smk
    targets += ["results/summary/seeds.parquet"] if SEED_GROUPS and has_summary() else []  # train.smk
    return targets + analysis_targets()  # analysis.smk: pixel baselines, CKA, results/summary/


def explorer_inputs(wildcards):
    """The explorer's embedding tables (every model, layer and computed embedding) and the dataset files."""
    base = f"results/analysis/{wildcards.dataset}"
    tables = [
        f"{base}/{m}/{layer}/embedding_{e}.parquet" for m in MODELS for layer in LAYERS[m] for e in EMBEDDINGS
    ]
    return {"embeddings": tables, "dataset": dataset_files(wildcards.dataset)}


# Input functions and targets of analysis.smk (a snakefile holds rules or functions, not both).


def layer_summaries(dataset, model, layer):
    """The per-layer JSON rows that results/summary/layers.parquet merges, for the analyses switched on."""
    base = f"results/analysis/{dataset}/{model}/{layer}"
    paths = [f"{base}/class_variance_summary.json"] if ANALYSES["variance"] else []
    paths += [f"{base}/probes.json"] if ANALYSES["probes"]["enabled"] else []
    paths += [f"{base}/cluster_quality.json"] if ANALYSES["cluster_quality"] else []
    paths += [f"{base}/neural_collapse.json"] if ANALYSES["neural_collapse"] else []
    paths += [f"{base}/linear_adam.json"] if ANALYSES["linear_adam"]["enabled"] else []
    return paths


def analysis_layer_targets(dataset, model, layer):
    """What the analysis suite adds to one (dataset, model, layer)."""
    base = f"results/analysis/{dataset}/{model}/{layer}"
    targets = layer_summaries(dataset, model, layer)
    targets += [f"{base}/confusion.png"] if ANALYSES["probes"]["enabled"] else []
    targets += [f"{base}/linear_adam.png"] if ANALYSES["linear_adam"]["enabled"] else []
    if ANALYSES["thumbnails"]["enabled"]:
        thumbnails = ANALYSES["thumbnails"]["embeddings"]
        targets += [f"{base}/thumbnails_{e}.png" for e in EMBEDDINGS if e in thumbnails]
    return targets


def comparison_classifier():
    """The classifier whose per-image correctness the paired tests compare: the linear probe (else the
    first probe classifier, else the Adam linear layer); None when none is computed."""
    probes = ANALYSES["probes"]
    if probes["enabled"] and probes["classifiers"]:
        return "linear_probe" if "linear_probe" in probes["classifiers"] else probes["classifiers"][0]
    return "linear_adam" if ANALYSES["linear_adam"]["enabled"] else None


def comparison_predictions():
    """{"dataset/model/layer": per-image predictions table} that results/summary/comparisons reads."""
    name = "linear_adam_predictions" if comparison_classifier() == "linear_adam" else "predictions"
    return {
        f"{d}/{m}/{layer}": f"results/analysis/{d}/{m}/{layer}/{name}.parquet"
        for d in DATASETS
        for m in MODELS
        for layer in LAYERS[m]
    }


def comparison_features(wildcards):
    """The features folders of the models of each compared pair (for the ratio's change)."""
    models = sorted({m for pair in COMPARISON_PAIRS for m in pair})
    return [f"results/features/{d}/{m}" for d in DATASETS for m in models]


def analysis_targets():
    """Per-dataset analyses and the summary across every dataset, model and layer."""
    targets = []
    for dataset in DATASETS:
        if ANALYSES["pixel_baselines"]:
            targets += [f"results/analysis/{dataset}/pixels/class_means.png"]
        if ANALYSES["cka"]:
            targets += [f"results/analysis/{dataset}/cka.png"]
            targets += [f"results/analysis/{dataset}/{m}/cka.png" for m in MODELS]
    if any(layer_summaries(DATASETS[0], MODELS[0], LAYERS[MODELS[0]][0])):
        targets += ["results/summary/layers.csv"]
        targets += [f"results/summary/metrics_vs_depth_{m}.png" for m in MODELS]
    if comparison_classifier():
        targets += ["results/summary/comparisons.tsv"]
    return targets


# The report lists a layer's items sorted by their label values, label by label: the "section" label (before
# "figure") puts the core figures first, the network pictures next and the per-image maps last.
SECTIONS = {
    "maps": "1 maps",
    "variance": "2 class variances",
    "classifiers": "3 classifiers, clusters, collapse",
    "network": "4 inside the network",
    "image": "5 per image",
}


def _labels(figure, section="classifiers", **extra):
    labels = {"dataset": "{dataset}", "model": "{model}", "layer": "{layer}"}
    return {**labels, "section": SECTIONS[section], "figure": figure, **extra}


# Input functions and targets of robustness.smk (a snakefile holds rules or functions, not both).


def _corrupted_entries(model=None):
    """One dict per corrupted dataset: dataset, corruption, severity, dataset_dir (and features_dir)."""
    entries = []
    for c in CORRUPTED:
        entry = {"dataset": c.dataset, "corruption": c.corruption, "severity": c.severity}
        entry["dataset_dir"] = f"results/datasets/{c.dataset}"
        if model is not None:
            entry["features_dir"] = f"results/features/{c.dataset}/{model}"
        entries.append(entry)
    return entries


def _robust_features(wildcards):
    """Features of the clean dataset and of every corrupted one, for the model of the job."""
    clean = f"results/features/{ROBUSTNESS['clean']}/{wildcards.model}"
    return [clean] + [f"results/features/{c.dataset}/{wildcards.model}" for c in CORRUPTED]


def _corrupted_metadata(wildcards):
    return [f"results/datasets/{c.dataset}/dataset.json" for c in CORRUPTED]


def _accuracy_tables(wildcards):
    tables = [
        f"{ROBUST_OUT}/{m}/{layer}/accuracy.parquet"
        for m, layers in ROBUST_LAYERS.items()
        for layer in layers
    ]
    return tables + [f"{ROBUST_OUT}/{m}/head_accuracy.parquet" for m in HEAD_MODELS]


def _compare_pair(wildcards):
    for pair in _robustness.compare_pairs(config):
        if (pair["finetuned"], pair["layer"], pair["dataset"]) == (
            wildcards.model,
            wildcards.layer,
            wildcards.dataset,
        ):
            return pair
    raise ValueError(
        f"no robustness.compare entry for {wildcards.model} / {wildcards.layer} / {wildcards.dataset}"
    )


def robustness_targets():
    """What the robustness block adds to `rule all` (nothing when it is off)."""
    if not ROBUSTNESS:
        return []
    targets = [f"{ROBUST_OUT}/accuracy.tsv", f"{ROBUST_OUT}/corruption_summary.tsv"]
    targets += [f"{ROBUST_OUT}/accuracy_vs_severity_{c}.png" for c in _robustness.corruptions(config)]
    targets += [f"{ROBUST_OUT}/{m}/drift.png" for m in ROBUST_LAYERS]
    targets += [
        f"{ROBUST_OUT}/{p['finetuned']}/{p['layer']}/pca_grid_{p['dataset']}.png"
        for p in _robustness.compare_pairs(config)
    ]
    return targets


def _robust_labels(figure, **extra):
    return {"model": "{model}", "layer": "{layer}", "figure": figure, **extra}


# Input functions and targets of inspect.smk (a snakefile holds rules or functions, not both).


def inspection_targets():
    """What analyses.inspection adds to `rule all` (nothing when it is off)."""
    if not INSPECTION["enabled"]:
        return []
    targets = []
    for model in MODELS:
        targets += [f"results/inspection/{model}/filters", f"results/inspection/{model}/layers.tsv"]
        for dataset in DATASETS:
            base = f"results/inspection/{dataset}/{model}"
            targets += [f"{base}/dead_units.png"]
            targets += [f"{base}/{layer}/top_patches.png" for layer in LAYERS[model]]
            targets += [f"{base}/{layer}/activations" for layer in LAYERS[model]]
    return targets


def _inspection_labels(figure, section="network", **extra):
    # the key order of _labels (dataset, model, layer, section, figure), so a layer's items sort as one list
    labels = {"dataset": extra.pop("dataset")} if "dataset" in extra else {}
    labels["model"] = "{model}"
    labels |= {"layer": extra.pop("layer")} if "layer" in extra else {}
    return {**labels, "section": SECTIONS[section], "figure": figure, **extra}


def activation_labels(layer, dataset=None):
    """Labels of one image's activation maps of ``layer`` (a function of the job's wildcards): the sample
    id zero-padded, so sample 2 sorts before 18. ``dataset``: the dataset where the rule's paths name it
    (the first dataset's inspection rule), else the job's wildcard."""

    def labels(wildcards):
        return {
            "dataset": dataset or wildcards.dataset,
            "model": wildcards.model,
            "layer": layer,
            "section": SECTIONS["image"],
            "figure": f"activation maps: sample {int(wildcards.sample):06d}",
        }

    return labels


# Targets and input functions of report.smk (a snakefile holds rules or functions, not both).


def _table_report(table):
    """Where the HTML page of results/<table>.tsv (or .json) sits in the report, and its title:
    (category, subcategory, labels, title), from the table's path."""
    parts = table.split("/")
    name = parts[-1]
    words = TABLE_WORDS.get(name, name.replace("_", " "))
    if table == "summary/layers":
        return (
            "summary",
            None,
            {"dataset": "all", "figure": "all layers, summary (table)"},
            "Summary: every dataset, model and layer",
        )
    if table == "summary/seeds":
        return (
            "summary",
            None,
            {"dataset": "all", "figure": "spread across training seeds (table)"},
            "Spread across training seeds: every dataset, model and layer",
        )
    if parts[0] == "analysis" and len(parts) == 5:
        _, dataset, model, layer, _ = parts
        section = SECTIONS["variance" if "variance" in name else "classifiers"]
        labels = {"dataset": dataset, "model": model, "layer": layer, "section": section}
        return (
            model,
            layer,
            {**labels, "figure": f"{words} (table)"},
            f"{words}: {model} / {layer} on {dataset}",
        )
    if parts[0] == "analysis":  # analysis/<dataset>/cka, analysis/<dataset>/pixels/nearest_class_mean
        dataset = parts[1]
        return "summary", None, {"dataset": dataset, "figure": f"{words} (table)"}, f"{words} on {dataset}"
    if parts[0] == "training" and parts[1] == "sweeps":
        return (
            "sweeps",
            parts[2],
            {"sweep": parts[2], "table": f"{words} (table)"},
            f"Sweep {parts[2]}: {words}",
        )
    if parts[0] == "training":
        model = parts[1]
        return model, "training", {"model": model, "table": f"{words} (table)"}, f"{model}: {words}"
    if parts[0] == "inspection":
        model = parts[-2]
        labels = {"dataset": parts[1]} if len(parts) == 4 else {}
        labels |= {"model": model, "section": SECTIONS["network"], "figure": f"{words} (table)"}
        return model, "network", labels, f"{model}: {words}"
    if parts[0] == "robustness":
        sub = "feature drift" if name == "drift" else "accuracy under corruption"
        model = parts[1] if len(parts) == 3 else "all"
        return (
            "robustness",
            sub,
            {"model": model, "figure": f"{words} (table)"},
            f"Robustness: {words} ({model})",
        )
    return "summary", None, {"figure": f"{words} (table)"}, words


TABLE_WORDS = {
    "layers": "layer shapes",
    "probes": "classifiers",
    "cluster_quality": "cluster quality",
    "neural_collapse": "neural collapse",
    "intra_class_variance": "intra-class variance",
    "inter_class_variance": "inter-class variance",
    "linear_adam": "linear layer (Adam) curves",
    "cka": "CKA, every model and layer",
    "nearest_class_mean": "pixel nearest class mean",
    "metrics": "test metrics",
    "comparison": "comparison",
    "dead_units": "dead units",
    "accuracy": "accuracy under corruption",
    "corruption_summary": "mean corruption accuracy and relative drop",
    "drift": "feature drift per layer",
}


def layer_tables():
    """The names of a layer's result tables a user is pointed to (the analyses switched on)."""
    per_layer = [("probes", ANALYSES["probes"]["enabled"]), ("cluster_quality", ANALYSES["cluster_quality"])]
    per_layer += [
        ("neural_collapse", ANALYSES["neural_collapse"]),
        ("linear_adam", ANALYSES["linear_adam"]["enabled"]),
    ]
    per_layer += [
        ("intra_class_variance", ANALYSES["variance"]),
        ("inter_class_variance", ANALYSES["variance"]),
    ]
    return [name for name, on in per_layer if on]


def study_tables():
    """The other result tables a user is pointed to (summary, per dataset, training, inspection,
    robustness), as paths under results/ without suffix."""
    tables = ["summary/layers"] if has_summary() else []
    for dataset in DATASETS:
        tables += [f"analysis/{dataset}/cka"] if ANALYSES["cka"] else []
        tables += [f"analysis/{dataset}/pixels/nearest_class_mean"] if ANALYSES["pixel_baselines"] else []
    tables += [f"training/{m}/metrics" for m in MODELS if trained(m)]
    tables += [f"training/sweeps/{s}/comparison" for s, ms in SWEEPS.items() if all(trained(m) for m in ms)]
    tables += ["summary/seeds"] if SEED_GROUPS and has_summary() else []
    if INSPECTION["enabled"]:
        tables += [f"inspection/{m}/layers" for m in MODELS]
        tables += [f"inspection/{d}/{m}/dead_units" for d in DATASETS for m in MODELS]
    if ROBUSTNESS:
        tables += ["robustness/accuracy", "robustness/corruption_summary"]
        tables += [f"robustness/{m}/drift" for m in ROBUST_LAYERS]
    return tables


def report_tables():
    """The result tables a user is pointed to, as paths under results/ without suffix. Their HTML pages
    are rendered in one job (rule study_tables)."""
    tables = [
        f"analysis/{dataset}/{model}/{layer}/{t}"
        for dataset in DATASETS
        for model in MODELS
        for layer in LAYERS[model]
        for t in layer_tables()
    ]
    return study_tables() + tables


def _table_page(table):
    """results/report/tables/<table>.html with its place in the report (report() of one page)."""
    category, subcategory, labels, _ = _table_report(table)
    return report(
        f"results/report/tables/{table}.html",
        caption="../report/html_table.rst",
        category=category,
        subcategory=subcategory,
        labels=labels,
    )


def table_source(table):
    """The file an HTML table page renders: results/<table>.json for training metrics, else .tsv."""
    parts = table.split("/")
    json = parts[0] == "training" and parts[-1] == "metrics"
    return f"results/{table}.{'json' if json else 'tsv'}"


def report_pairs():
    """(dataset, reference, other, layer) of every comparison: model pairs at their shared layers."""
    return [
        (dataset, a, b, layer)
        for dataset in DATASETS
        for a, b in PAIRS
        for layer in shared_layers(config, a, b)
    ]


def report_targets():
    """The front page, atlas, comparisons, dataset overviews and HTML tables (rule all)."""
    targets = [f"results/report/tables/{t}.html" for t in report_tables()]
    for dataset in DATASETS:
        targets += [f"results/report/datasets/{dataset}/{f}" for f in ("class_counts.html", "samples.png")]
    if has_summary():
        targets += ["results/report/front_page.html"]
    if has_summary() and ATLAS_EMBEDDING:
        targets += [f"results/report/{d}/{f}" for d in DATASETS for f in ("atlas.png", "depth_profile.png")]
    if ANALYSES["variance"] and ATLAS_EMBEDDING:
        targets += [
            f"results/report/{d}/compare/{a}_vs_{b}/{layer}/{f}.png"
            for d, a, b, layer in report_pairs()
            for f in ("maps", "intra_class_variance", "inter_class_variance")
        ]
    return targets


def atlas_maps(wildcards):
    """The embedding tables the atlas of a dataset draws: {"model/layer": path}."""
    return {
        f"{m}/{layer}": f"results/analysis/{wildcards.dataset}/{m}/{layer}/embedding_{ATLAS_EMBEDDING}.parquet"
        for m in MODELS
        for layer in LAYERS[m]
    }


def has_summary():
    """Whether results/summary/layers.parquet is made (some per-layer analysis is on)."""
    return any(layer_summaries(DATASETS[0], MODELS[0], LAYERS[MODELS[0]][0]))


def front_page_figures(wildcards):
    if not ATLAS_EMBEDDING:
        return {}
    return {f"{d}/{f}": f"results/report/{d}/{f}.png" for d in DATASETS for f in ("atlas", "depth_profile")}


def front_page_explorers(wildcards):
    """{dataset: results/explorer/<dataset>.html} when explorer.smk builds the interactive explorer."""
    if not globals().get("EXPLORER_EMBEDDING"):
        return {}
    return {d: f"results/explorer/{d}.html" for d in DATASETS}


def front_page_cka(wildcards):
    return {d: f"results/analysis/{d}/cka.parquet" for d in DATASETS} if ANALYSES["cka"] else {}


def compare_inputs(wildcards):
    files = {}
    for key, name in (
        ("maps", f"embedding_{ATLAS_EMBEDDING}"),
        ("intra", "intra_class_variance"),
        ("inter", "inter_class_variance"),
    ):
        for k, m in (("a", wildcards.reference), ("b", wildcards.other)):
            files[f"{key}_{k}"] = "/".join(
                ["results", "analysis", wildcards.dataset, m, wildcards.layer, f"{name}.parquet"]
            )
    files["dataset"] = f"results/datasets/{wildcards.dataset}/dataset.json"
    return files
