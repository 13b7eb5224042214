"""Model zoo: architectures by name, their weights, their layers and the in-graph preprocessing.

The zoo's names load on first use (PEP 562), so that light submodules (``layeratlas.models.sweeps``,
read by the config and the report pages) do not import torch with the package."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from layeratlas.models.zoo import ARCHITECTURES, Architecture, build_model, get_architecture

__all__ = ["ARCHITECTURES", "Architecture", "build_model", "get_architecture"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from layeratlas.models import zoo

        return getattr(zoo, name)
    raise AttributeError(f"module 'layeratlas.models' has no attribute {name!r}")
