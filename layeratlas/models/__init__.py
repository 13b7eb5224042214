"""Model zoo: architectures by name, their weights, their layers and the in-graph preprocessing."""

from layeratlas.models.zoo import ARCHITECTURES, Architecture, build_model, get_architecture

__all__ = ["ARCHITECTURES", "Architecture", "build_model", "get_architecture"]
