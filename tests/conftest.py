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
    """One complete run of the tiny config (shared by the workflow and fault tests)."""
    from tests.snakemake_runs import snakemake

    workdir = tmp_path_factory.mktemp("tiny_run")
    snakemake(workdir, "--cores", "2", "--resources", "gpu=1", "--configfile", str(TINY_CONFIG))
    return workdir
