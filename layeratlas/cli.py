"""``layeratlas`` command line: inspect architectures' layers and validate configs."""

from __future__ import annotations

import argparse
import sys


def _layers(args: argparse.Namespace) -> int:
    import yaml

    from layeratlas.models import build_model, get_architecture
    from layeratlas.models.layers import layer_table
    from layeratlas.models.zoo import model_architecture

    options = {}
    for item in args.option:  # KEY=VALUE, the value read as YAML (J=3, widths=[8,16,16])
        key, sep, value = item.partition("=")
        if not sep:
            print(f"--option {item!r}: expected KEY=VALUE, e.g. J=3", file=sys.stderr)
            return 2
        options[key] = yaml.safe_load(value)
    size = args.input_size or get_architecture(args.architecture).input_size
    spec = {"architecture": args.architecture, "input_size": size, "options": options}
    try:
        arch = model_architecture(spec)
        model = build_model(spec, num_classes=10)
    except ValueError as error:  # an option the architecture does not take, or an impossible one
        print(f"layeratlas layers {args.architecture}: {error}", file=sys.stderr)
        return 2
    rows = layer_table(model, arch, size)
    print(
        f"{arch.name}: {len(rows)} layers at {size}x{size} input; per image: output shape, parameters of "
        "the module, float32 bytes stored flat (reduction none) and pooled (avg/max)"
    )
    print(f"  {'layer':<40} {'kind':<22} {'shape':<14} {'params':>11} {'bytes':>11} {'pooled':>8}")
    for r in rows:
        shape = "x".join(map(str, r["shape"]))
        print(
            f"  {r['layer']:<40} {r['kind']:<22} {shape:<14} {r['params']:>11,} "
            f"{r['bytes']:>11,} {r['bytes_pooled']:>8,}"
        )
    return 0


def _validate(args: argparse.Namespace) -> int:
    from layeratlas.checks import config_errors
    from layeratlas.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"{args.config}: {error}", file=sys.stderr)
        return 1
    if errors := config_errors(config):
        print(f"{args.config}: invalid config:\n  " + "\n  ".join(errors), file=sys.stderr)
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
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an architecture option as in models.<name>.options (repeatable): small_cnn widths=[8,16,16] "
        "hidden=[64,32]; scattering J=3 L=4 channels=3",
    )
    p.set_defaults(func=_layers)
    p = sub.add_parser("validate", help="check a config file against the schema")
    p.add_argument("config")
    p.set_defaults(func=_validate)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
