"""Which job computes which 2-D map (issue 22): a layer's PCA and UMAP maps share a job (rule
embed_pca_umap) only where that costs no resumability; otherwise each map keeps a job of its own."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import ROOT, TINY_CONFIG
from tests.snakemake_runs import job_counts, snakemake

N_LAYERS = sum(len(m["layers"]) for m in yaml.safe_load(TINY_CONFIG.read_text())["models"].values())
REPORT = ROOT / "workflow" / "report"


@pytest.mark.parametrize(
    ("analyses", "report", "expected"),
    [
        # the tiny config as it is: t-SNE with its thumbnail map, PCA and UMAP in one job
        ({}, {}, {"embed_pca_umap": 1, "embed_features_thumbnails": 1}),
        # UMAP's thumbnail map: UMAP keeps the job that draws it, PCA a job of its own
        (
            {"thumbnails": {"embeddings": ["tsne", "umap"]}},
            {},
            {"embed_features": 1, "embed_features_thumbnails": 2},
        ),
        # the atlas (and the comparisons) draw PCA alone: new UMAP options must not rerun them
        ({}, {"atlas_embedding": "pca"}, {"embed_features": 2, "embed_features_thumbnails": 1}),
        # no thumbnails: PCA and UMAP still together, t-SNE alone
        ({"thumbnails": {"enabled": False}}, {}, {"embed_pca_umap": 1, "embed_features": 1}),
        # one of the two not computed: the other as today
        ({"embeddings": ["pca", "tsne"]}, {}, {"embed_features": 1, "embed_features_thumbnails": 1}),
        ({"embeddings": ["umap"]}, {}, {"embed_features": 1}),
    ],
)
def test_pca_shares_umaps_job_only_where_nothing_reads_it_alone(tmp_path, analyses, report, expected):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["analyses"].update(analyses)
    config["report"] = {**config.get("report", {}), **report}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    out = snakemake(tmp_path, "--dry-run", "--cores", "1", "--configfile", str(path)).stdout
    rules = ("embed_pca_umap", "embed_features", "embed_features_thumbnails")
    counts = {rule: n for rule, n in job_counts(out).items() if rule in rules}
    assert counts == {rule: n * N_LAYERS for rule, n in expected.items()}
    maps = {e for e in ("pca", "tsne", "umap") if f"/embedding_{e}.png" in out}
    assert maps == set(config["analyses"]["embeddings"])  # every computed map still planned


@pytest.mark.parametrize("embedding", ["pca", "umap"])
def test_shared_job_captions_are_the_map_caption_with_its_name(embedding):
    """Rule embed_pca_umap has no {embedding} wildcard, so each map names itself in its caption file:
    the same text as embedding.rst renders for it in its own job (the report's captions unchanged)."""
    own_job = (REPORT / "embedding.rst").read_text()
    assert own_job.count("{{ snakemake.wildcards.embedding }}") == 1
    shared = (REPORT / f"embedding_{embedding}.rst").read_text()
    assert shared == own_job.replace("{{ snakemake.wildcards.embedding }}", embedding)
