"""``layeratlas`` command line: inspect architectures' layers and validate configs."""

from __future__ import annotations

import argparse
import sys


def _layers(args: argparse.Namespace) -> int:
    import torch

    from layeratlas.models import build_model, get_architecture
    from layeratlas.models.layers import layer_names, layer_shapes, truncated_graph
    from layeratlas.models.preprocess import Preprocess

    arch = get_architecture(args.architecture)
    size = args.input_size or arch.input_size
    model = build_model({"architecture": arch.name, "input_size": size}, num_classes=10)
    names = layer_names(model, arch)
    graph = truncated_graph(model, arch, names)
    example = Preprocess(size, arch.channels, arch.mean, arch.std)(
        torch.zeros(1, size, size, arch.channels, dtype=torch.uint8)
    )
    shapes = layer_shapes(graph, example)
    modules = dict(model.named_modules())
    print(f"{arch.name}: {len(names)} layers at {size}x{size} input (name, kind, output shape per image)")
    for name in names:
        kind = type(modules[name]).__name__ if name in modules else "function"
        print(f"  {name:<40} {kind:<22} {'x'.join(map(str, shapes[name]))}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from layeratlas.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"{args.config}: {error}", file=sys.stderr)
        return 1
    print(f"{args.config}: valid ({len(config['datasets'])} dataset(s), {len(config['models'])} model(s))")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="layeratlas", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("layers", help="list the layers of an architecture, with output shapes")
    p.add_argument("architecture")
    p.add_argument(
        "--input-size", type=int, default=None, help="input side in pixels (default: the architecture's)"
    )
    p.set_defaults(func=_layers)
    p = sub.add_parser("validate", help="check a config file against the schema")
    p.add_argument("config")
    p.set_defaults(func=_validate)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
