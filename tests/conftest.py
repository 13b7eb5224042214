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
