"""A small config (tests/configs/slurm.yaml) through profiles/slurm on a real SLURM cluster.

`.ci/slurm-cluster.sh start` sets one up.

The profile is used as written, except what a one-node test cluster needs: capacities scaled down to the
node (2 CPUs), and the settings a cluster without an accounting database needs (squeue for job status, no
account). Skipped, with the reason, where no cluster answers; under CI it must run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import yaml

from layeratlas.config import validate_config
from tests.conftest import ROOT
from tests.snakemake_runs import expected_outputs, snakemake

NODE_CPUS = 2
SLURM_CONFIG = ROOT / "tests" / "configs" / "slurm.yaml"


def _cluster_answers() -> str | None:
    """None when a SLURM cluster with an idle node answers, else why not."""
    if shutil.which("sinfo") is None:
        return "SLURM is not installed (run `.ci/slurm-cluster.sh start` as root to install and start one)"
    result = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    if result.returncode != 0 or not re.search(r"idle|mixed", result.stdout):
        answer = result.stderr.strip() or result.stdout.strip()
        return f"no SLURM cluster answers ({answer}); see .ci/slurm-cluster.sh"
    return None


@pytest.fixture(scope="module")
def slurm_available():
    reason = _cluster_answers()
    if reason and os.environ.get("CI"):
        pytest.fail(f"CI must run the SLURM test: {reason}")
    if reason:
        pytest.skip(reason)


def test_profile_keys_are_documented():
    """Every key of the shipped profile carries a comment (users edit it for their cluster)."""
    text = (ROOT / "profiles/slurm/config.yaml").read_text()
    profile = yaml.safe_load(text)
    assert profile["executor"] == "slurm"
    for rule in ("train_model", "export_model", "extract_features"):
        assert profile["set-resources"][rule]["gpu"] == 1
        assert "attempt" in str(profile["set-resources"][rule]["mem_mb"])  # memory grows on retry
    top_level = [line for line in text.splitlines() if re.match(r"^[a-z-]+:", line)]
    undocumented = [line for line in top_level if "#" not in line and not line.endswith(":")]
    assert not undocumented


def _test_profile(tmp_path):
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    for resources in profile["set-resources"].values():
        resources["cpus_per_task"] = min(resources.get("cpus_per_task", 1), NODE_CPUS)
        resources["mem_mb"] = "2000 * attempt"
    profile["set-threads"] = {rule: min(n, NODE_CPUS) for rule, n in profile["set-threads"].items()}
    profile["default-resources"]["mem_mb"] = "1500 * attempt"
    profile.update(
        {
            "slurm-status-command": "squeue",  # no accounting database, so no sacct
            "slurm-no-account": True,
            "slurm-init-seconds-before-status-checks": 5,
            "latency-wait": 5,
            "retries": 0,
            "jobs": 4,
        }
    )
    folder = tmp_path / "profile"
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return folder


def test_tiny_config_runs_through_slurm(slurm_available, tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    result = snakemake(workdir, "--profile", str(_test_profile(tmp_path)), "--configfile", str(SLURM_CONFIG))
    config = validate_config(yaml.safe_load(SLURM_CONFIG.read_text()))
    missing = [p for p in expected_outputs(config) if not (workdir / p).is_file()]
    assert not missing

    log = result.stdout + result.stderr
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+) \(log: .*?slurm_logs/rule_(\w+)/", log)
    rules = {"prepare_dataset", "train_model", "export_model", "extract_features", "embed_features"}
    assert {rule for _, rule in submitted} >= rules | {"class_separation", "summarize_layers"}
    for job_id, rule in submitted:
        state = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True).stdout
        assert "JobState=COMPLETED" in state, f"SLURM job {job_id} ({rule}): {state[:300]}"
    gpu_job = next(job_id for job_id, rule in submitted if rule == "train_model")
    details = subprocess.run(["scontrol", "show", "job", gpu_job], capture_output=True, text=True).stdout
    # the profile's GPU settings reached SLURM: the GPU partition and one GPU
    assert "Partition=gpu" in details and re.search(r"gres[:/]gpu[:=]1", details), details
