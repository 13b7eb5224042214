"""Where a GPU could be: the `gpu` resource claim of training/extraction and extraction's provider check
(issue 22: on a CPU-only machine the claim serialised training and extraction while a core sat idle)."""

from __future__ import annotations

import pytest

from layeratlas.devices import maybe_nvidia_gpu
from tests.test_imports import loaded_after


@pytest.fixture
def machine(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    (tmp_path / "dev").mkdir()
    (tmp_path / "proc" / "driver").mkdir(parents=True)
    return tmp_path


def test_cpu_only_linux_machine_has_none(machine):
    (machine / "dev" / "nvidiactl-not-a-gpu").touch()
    assert not maybe_nvidia_gpu(machine, "linux")


@pytest.mark.parametrize("device", ["dev/nvidia0", "dev/dxg", "proc/driver/nvidia/gpus/0000:01:00.0"])
def test_nvidia_device_files_mean_maybe(machine, device):
    (machine / device).parent.mkdir(parents=True, exist_ok=True)
    (machine / device).touch()
    assert maybe_nvidia_gpu(machine, "linux")


@pytest.mark.parametrize("hidden", ["", "-1"])
def test_cuda_visible_devices_can_hide_every_gpu(machine, monkeypatch, hidden):
    (machine / "dev" / "nvidia0").touch()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
    assert not maybe_nvidia_gpu(machine, "linux")


def test_other_platforms_are_not_guessed(machine):
    assert maybe_nvidia_gpu(machine, "win32")
    assert maybe_nvidia_gpu(machine, "darwin")


@pytest.mark.skipif(maybe_nvidia_gpu(), reason="this machine may have a GPU: torch is asked, rightly")
def test_extraction_on_a_cpu_machine_does_not_import_torch():
    loaded = loaded_after(
        """
        from layeratlas.extraction import choose_providers
        assert choose_providers() == ["CPUExecutionProvider"], choose_providers()
        """,
        ("torch", "onnxruntime"),
    )
    assert loaded == {"onnxruntime"}
