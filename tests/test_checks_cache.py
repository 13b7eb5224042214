"""The checks that build the models (layers, reductions, recipes, layer widths for the memory check) answer
from a cache when the same model specs were checked before (issue 22: they imported torchvision and timm
and built every model in every `snakemake` call, --report and dry runs included)."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
import yaml

from layeratlas.checks import check_cache_dir, check_config
from layeratlas.config import ConfigError
from tests.conftest import ROOT, TINY_CONFIG

RAW = yaml.safe_load(TINY_CONFIG.read_text())
SMALL = {**RAW, "models": {"small_cnn": RAW["models"]["small_cnn"]}}  # one cheap model


HEAVY = ("torch", "torchvision", "timm", "scipy.stats", "sklearn", "matplotlib", "umap", "onnxruntime")


def _checked_in_fresh_interpreter(raw: dict, cache_home, prelude: str = "") -> dict:  # noqa: ANN001
    """check_config(deep, cache) in a fresh interpreter after ``prelude``: its result, whether it built
    models, and which HEAVY modules the interpreter holds at the end."""
    probe = textwrap.dedent(
        f"""
        import json, sys
        {prelude}
        from layeratlas.checks import check_config
        checked = check_config(json.loads({json.dumps(json.dumps(raw))}), cache=True)
        built = "torchvision" in sys.modules or "timm" in sys.modules
        heavy = [name for name in {HEAVY!r} if name in sys.modules]
        print(json.dumps({{"checked": checked, "built": built, "heavy": heavy}}))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "LAYERATLAS_CHECKS_CACHE"}
    env |= {"XDG_CACHE_HOME": str(cache_home), "LAYERATLAS_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_second_check_of_the_same_models_builds_none(tmp_path):
    first = _checked_in_fresh_interpreter(SMALL, tmp_path)
    second = _checked_in_fresh_interpreter(SMALL, tmp_path)
    assert first["built"] and not second["built"]
    assert second["checked"] == first["checked"]
    assert len(list((tmp_path / "layeratlas" / "checks").glob("*.json"))) == 1


def test_the_workflow_main_process_imports_no_heavy_module_on_a_cache_hit(tmp_path):
    """What every `snakemake` call (run, dry run, --report) imports while it reads the workflow: the
    layeratlas imports of the Snakefile and workflow/rules/*.smk, then the config checks. With the model
    checks cached, none of it is torch, scipy.stats or a plotting library (torch alone was ~2 CPU-s at
    every start; the front page's import of scipy.stats another ~1)."""
    sources = [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]
    imports = sorted(
        {
            line.strip()
            for path in sources
            for line in path.read_text().splitlines()
            if re.match(r"\s*(from layeratlas[.\w]* import |import layeratlas)", line)
        }
    )
    assert len(imports) >= 5  # the workflow files were read
    _checked_in_fresh_interpreter(RAW, tmp_path)
    second = _checked_in_fresh_interpreter(RAW, tmp_path, prelude="; ".join(imports))
    assert not second["built"]
    assert second["heavy"] == []


def test_a_changed_model_is_checked_again(tmp_path, monkeypatch):
    """A cached answer is never another spec's: an unknown layer after a good config is still refused."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("LAYERATLAS_CHECKS_CACHE", raising=False)
    good = check_config(copy.deepcopy(SMALL), cache=True)
    assert check_cache_dir() == tmp_path / "layeratlas" / "checks"
    bad = copy.deepcopy(SMALL)
    bad["models"]["small_cnn"]["layers"]["relu9"] = "none"
    with pytest.raises(ConfigError, match="'relu9' is not a layer of small_cnn"):
        check_config(bad, cache=True)
    with pytest.raises(ConfigError, match="'relu9' is not a layer of small_cnn"):  # the refusal is cached too
        check_config(copy.deepcopy(bad), cache=True)
    assert check_config(copy.deepcopy(SMALL), cache=True) == good == check_config(copy.deepcopy(SMALL))
    assert len(list(check_cache_dir().glob("*.json"))) == 2
    monkeypatch.setenv("LAYERATLAS_CHECKS_CACHE", str(tmp_path / "elsewhere"))  # benchmarks: a fresh one
    assert check_cache_dir() == tmp_path / "elsewhere"
