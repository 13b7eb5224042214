"""CPU seconds of the analysis rules' jobs, one fresh interpreter per job, on a finished run's features.

    python benchmarks/analysis_jobs.py --run DIR [--repeat 3] [--rules embed_pca_umap,class_separation]

Each job runs its rule's script (scripts/<rule>.py) as Snakemake would: a fresh interpreter, Snakemake's
script preamble imported, a ``snakemake`` object with the job's input, output, params, wildcards and
threads, and the thread variables Snakemake sets for a 1-thread job (OMP/OPENBLAS/MKL_NUM_THREADS=1).
Inputs are read from the run in DIR (a default-config run: results/features/digits/...), outputs go to a
temporary folder. The figure is the child's user + sys CPU seconds (getrusage), the median of --repeat
runs, for one job per rule and layer kind (the widest and the narrowest layer of the run); the estimate
per rule multiplies the mean by the job count of the default run. Not counted: Snakemake's own work per
job in its main process (job preparation, metadata), the same for every rule.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys
from types import SimpleNamespace
from snakemake import script  # Snakemake's preamble import

class Named(list):
    def __init__(self, items, named):
        super().__init__(items)
        self.__dict__.update(named)

spec = json.loads(sys.argv[1])
def named(d):
    return Named([x for v in d.values() for x in (v if isinstance(v, list) else [v])], d)
snakemake = SimpleNamespace(
    input=named(spec["input"]), output=named(spec["output"]), log=[spec["log"]],
    params=SimpleNamespace(**spec["params"]), wildcards=SimpleNamespace(**spec["wildcards"]),
    threads=1, config=spec["config"],
)
exec(compile(open(spec["script"]).read(), spec["script"], "exec"), {"snakemake": snakemake})
"""


def layer_jobs(
    run: Path, out: Path, config: dict, model: str, layer: str, merge_pca_umap: bool = True
) -> dict[str, dict]:
    """{rule (or rule:variant): job spec} of the per-layer rules for one (model, layer)."""
    feats = str(run / "results/features/digits" / model)
    data = [str(run / "results/datasets/digits" / f) for f in ("images.npy", "index.parquet", "dataset.json")]
    a = config["analyses"]
    wc = {"dataset": "digits", "model": model, "layer": layer}
    base = run / "results/analysis/digits" / model / layer  # the run's own outputs, as inputs
    o = out / model / layer
    o.mkdir(parents=True, exist_ok=True)
    jobs = {}
    for emb in a["embeddings"]:
        jobs[f"embed_features:{emb}"] = {
            "input": {"features": feats, "dataset": data},
            "output": {
                "table": str(o / f"embedding_{emb}.parquet"),
                "figure": str(o / f"embedding_{emb}.png"),
            },
            "params": {"split": a["split"], "options": a.get(emb, {}), "seed": config["seed"]},
            "wildcards": {**wc, "embedding": emb},
        }
    # Rule class_separation: class variance and cluster quality in one job (session 7)
    jobs["class_separation"] = {
        "input": {
            "features": feats,
            "dataset": data,
            "embeddings": [str(base / f"embedding_{e}.parquet") for e in a["embeddings"]],
        },
        "output": {
            k: str(o / v)
            for k, v in {
                "intra": "intra.parquet",
                "intra_tsv": "intra.tsv",
                "inter": "inter.parquet",
                "inter_tsv": "inter.tsv",
                "variance_summary": "cv.json",
                "heatmap": "cv.png",
                "intra_bar": "intra.png",
                "cluster_table": "cq.parquet",
                "cluster_table_tsv": "cq.tsv",
                "cluster_summary": "cq.json",
            }.items()
        },
        "params": {
            "split": a["split"],
            "embeddings": a["embeddings"],
            "seed": config["seed"],
            "resamples": a["bootstrap"]["resamples"],
        },
        "wildcards": wc,
    }
    probes = {**a["probes"], "classifiers": list(a["probes"]["classifiers"])}
    jobs["layer_probes"] = {
        "input": {"features": feats, "dataset": data},
        "output": {
            k: str(o / v)
            for k, v in {
                "table": "probes.parquet",
                "table_tsv": "probes.tsv",
                "summary": "probes.json",
                "confusion": "confusion.png",
                "linear_probe": "linear_probe.npz",
                "predictions": "predictions.parquet",
                # neural collapse, from the probe just fitted (analyses.neural_collapse, on by default)
                "nc_table": "nc.parquet",
                "nc_table_tsv": "nc.tsv",
                "nc_summary": "nc.json",
                # the Adam-trained linear layer (analyses.linear_adam), in this job since session 7
                "adam_table": "adam.parquet",
                "adam_table_tsv": "adam.tsv",
                "adam_summary": "adam.json",
                "adam_figure": "adam.png",
                "adam_predictions": "adam_pred.parquet",
            }.items()
        },
        "params": {
            "options": probes,
            "seed": config["seed"],
            "resamples": a["bootstrap"]["resamples"],
            "linear_adam": a["linear_adam"],
        },
        "wildcards": wc,
    }
    # Rule embed_features_thumbnails (this code): the map's job draws its thumbnail map too; before it,
    # rule thumbnail_map drew it in a job of its own (measure that code with its own copy of this file).
    thumbs = a["thumbnails"]
    for emb in thumbs["embeddings"] if thumbs["enabled"] else []:
        job = jobs.pop(f"embed_features:{emb}")
        job["output"]["thumbnails"] = str(o / f"thumbnails_{emb}.png")
        job["params"]["thumbnails"] = {"max_points": thumbs["max_points"], "zoom": thumbs["zoom"]}
        jobs[f"embed_features_thumbnails:{emb}"] = {**job, "script": "embed_features"}
    # Rule embed_pca_umap (this code): the PCA and UMAP maps in one job where both are still maps of their
    # own jobs here (neither draws thumbnails); merge_pca_umap=False measures the two jobs they were before.
    pca, umap = jobs.get("embed_features:pca"), jobs.get("embed_features:umap")
    if merge_pca_umap and pca and umap:
        del jobs["embed_features:pca"], jobs["embed_features:umap"]
        jobs["embed_pca_umap"] = {
            "input": pca["input"],
            "output": {
                f"{e}_{k}": v for e, job in (("pca", pca), ("umap", umap)) for k, v in job["output"].items()
            },
            "params": {
                **pca["params"],
                "options": {"pca": pca["params"]["options"], "umap": umap["params"]["options"]},
            },
            "wildcards": wc,
            "script": "embed_features",
        }
    return jobs


def run_job(rule: str, spec: dict, out: Path, config: dict, cwd: Path) -> float:
    """The job's CPU seconds (user + sys of its fresh interpreter)."""
    script = spec.get("script", rule.split(":")[0])
    spec = {**spec, "script": str(ROOT / "scripts" / f"{script}.py"), "config": config}
    spec["log"] = str(out / "logs" / f"{rule}.log")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    env |= {"MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], cwd=cwd, env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, required=True, help="a finished default-config run folder")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rules", default="", help="comma-separated rules (default: all)")
    parser.add_argument(
        "--layers", default="small_cnn/pool1,efficientnet_lite0/global_pool", help="model/layer,..."
    )
    parser.add_argument(
        "--separate-pca-umap",
        action="store_true",
        help="PCA and UMAP as two jobs, as before rule embed_pca_umap",
    )
    parser.add_argument("--jobs-per-rule", type=int, default=7, help="per-layer jobs of each rule in the run")
    args = parser.parse_args()
    from layeratlas.config import load_config  # the schema's defaults, as the workflow sees them

    config = load_config(ROOT / "config" / "config.yaml")
    print(f"machine: {machine()}")
    wanted = {r for r in args.rules.split(",") if r}
    per_rule: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "logs").mkdir()
        for pair in args.layers.split(","):
            model, layer = pair.split("/")
            jobs = layer_jobs(args.run, out, config, model, layer, merge_pca_umap=not args.separate_pca_umap)
            for rule, spec in jobs.items():
                if wanted and rule.split(":")[0] not in wanted:
                    continue
                times = [run_job(rule, spec, out, config, args.run) for _ in range(args.repeat)]
                per_rule.setdefault(rule, []).append(statistics.median(times))
                print(
                    f"  {rule:28s} {pair:32s} {statistics.median(times):6.2f} CPU-s  (runs: "
                    + ", ".join(f"{t:.2f}" for t in times)
                    + ")",
                    flush=True,
                )
    total = 0.0
    print(f"per rule (mean of the layers above x {args.jobs_per_rule} jobs):")
    for rule, values in per_rule.items():
        estimate = statistics.mean(values) * args.jobs_per_rule
        total += estimate
        print(f"  {rule:28s} {statistics.mean(values):6.2f} CPU-s/job  ~{estimate:6.1f} CPU-s")
    print(f"  all of the above ~{total:.1f} CPU-s")


if __name__ == "__main__":
    main()
