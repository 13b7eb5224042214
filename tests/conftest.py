import os
from pathlib import Path

import pytest
import yaml

from layeratlas.config import validate_config

ROOT = Path(__file__).resolve().parents[1]
TINY_CONFIG = ROOT / "tests" / "configs" / "tiny.yaml"
DEFAULT_CONFIG = ROOT / "config" / "config.yaml"


@pytest.fixture(scope="session")
def tiny_config() -> dict:
    return validate_config(yaml.safe_load(TINY_CONFIG.read_text()))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One complete run of the tiny config (shared by the workflow and fault tests).

    ``LAYERATLAS_TINY_RUN``: a folder where this run was already made (.ci/run makes it, and its report,
    with the dependencies of ``pip install -e .`` alone, before the test extras are installed); the same
    command then only confirms it is complete."""
    from tests.snakemake_runs import snakemake

    prebuilt = os.environ.get("LAYERATLAS_TINY_RUN")
    workdir = Path(prebuilt) if prebuilt else tmp_path_factory.mktemp("tiny_run")
    snakemake(workdir, "--cores", "2", "--resources", "gpu=1", "--configfile", str(TINY_CONFIG))
    return workdir
