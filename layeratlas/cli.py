"""``layeratlas`` command line: inspect architectures' layers and validate configs.

Whatever the input, a command ends with a message and a non-zero exit status, never a traceback
(``LAYERATLAS_TRACEBACK=1`` shows it, for debugging layeratlas itself)."""

from __future__ import annotations

import argparse
import difflib
import os
import sys


def _layers(args: argparse.Namespace) -> int:
    import yaml

    from layeratlas.models import build_model, get_architecture
    from layeratlas.models.layers import layer_table
    from layeratlas.models.zoo import ARCHITECTURES, TIMM_PREFIX, model_architecture

    options = {}
    for item in args.option:  # KEY=VALUE, the value read as YAML (J=3, widths=[8,16,16])
        key, sep, value = item.partition("=")
        if not sep:
            print(f"--option {item!r}: expected KEY=VALUE, e.g. J=3", file=sys.stderr)
            return 2
        try:
            options[key] = yaml.safe_load(value)
        except yaml.YAMLError as error:
            print(f"--option {item!r}: the value is not valid YAML ({_first_line(error)})", file=sys.stderr)
            return 2
    name = args.architecture
    if name not in ARCHITECTURES and not name.startswith(TIMM_PREFIX):
        close = difflib.get_close_matches(name, list(ARCHITECTURES), n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        print(
            f"layeratlas layers: unknown architecture {name!r}{hint}; choose one of "
            f"{', '.join(ARCHITECTURES)} or timm:<model name>",
            file=sys.stderr,
        )
        return 2
    if options and name in ARCHITECTURES and ARCHITECTURES[name].configure is not None:
        # the keys and values models.<name>.options may hold for this architecture (the others take
        # none: model_architecture says so below)
        from layeratlas.config import config_problems

        trial = {"architecture": name, "layers": {"x": "none"}, "options": options}
        digits = {"d": {"source": "sklearn_digits"}}
        problems = config_problems({"datasets": digits, "models": {"m": trial}})[1]
        if problems := [p.replace("models.m.options", "--option", 1) for p in problems if "options" in p]:
            print(f"layeratlas layers {name}: {'; '.join(problems)}", file=sys.stderr)
            return 2
    try:
        size = args.input_size or get_architecture(name).input_size
        spec = {"architecture": name, "input_size": size, "options": options}
        arch = model_architecture(spec)
        model = build_model(spec, num_classes=10)
    except (ValueError, TypeError) as error:  # an option the architecture does not take, or an impossible one
        print(f"layeratlas layers {name}: {_first_line(error)}", file=sys.stderr)
        return 2
    try:
        rows = layer_table(model, arch, size)
    except RuntimeError as error:  # the maps shrink to nothing before the last layer
        print(
            f"layeratlas layers {name}: input size {size} is too small for {arch.name} "
            f"({_first_line(error)}); try a larger --input-size (its own is "
            f"{get_architecture(name).input_size})",
            file=sys.stderr,
        )
        return 2
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


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _validate(args: argparse.Namespace) -> int:
    from layeratlas.checks import check_config
    from layeratlas.config import ConfigError, read_yaml, size_limit_notes

    raw, problems = read_yaml(args.config)
    if problems and raw is None:  # nothing to check: the file could not be read or parsed
        print("\n".join(problems), file=sys.stderr)
        return 1
    try:
        config = check_config(
            raw if raw is not None else {}, files=[args.config], availability=not args.elsewhere
        )
    except ConfigError as error:
        print(f"{args.config}: {error}", file=sys.stderr)
        return 1
    print(f"{args.config}: valid ({len(config['datasets'])} dataset(s), {len(config['models'])} model(s))")
    for note in size_limit_notes(config, raw):  # defaults a small dataset clips: said, not silent
        print(f"  note: {note}")
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of pixels") from None
    if not 8 <= value <= 4096:
        raise argparse.ArgumentTypeError(f"{value} is outside 8..4096 pixels")
    return value


def main(argv: list[str] | None = None) -> int:
    from layeratlas import __version__

    parser = argparse.ArgumentParser(prog="layeratlas", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"layeratlas {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("layers", help="list the layers of an architecture, with output shapes")
    p.add_argument("architecture")
    p.add_argument(
        "--input-size",
        type=_positive,
        default=None,
        help="input side in pixels, 8 to 4096 (default: the architecture's)",
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
    p = sub.add_parser(
        "validate",
        help="check a config file: schema, rules between keys, layers, weights and dataset files "
        "(what the workflow checks before any job; relative paths from the current folder)",
    )
    p.add_argument("config")
    p.add_argument(
        "--elsewhere",
        action="store_true",
        help="a config for another machine: leave out whether the datasets' downloaded files and ImageNet "
        "weights are in place or downloadable here (everything else is checked)",
    )
    p.set_defaults(func=_validate)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("layeratlas: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - one line for the user, never a traceback
        if os.environ.get("LAYERATLAS_TRACEBACK"):
            raise
        print(f"layeratlas {args.command}: {type(error).__name__}: {_first_line(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
