"""Property test of the two doors into a run: ``layeratlas validate FILE`` and the Snakefile
(workflow/rules/common.smk) both call ``layeratlas.checks.check_config``, so they agree by construction;
this checks what each door shows. Valid configs are mutated (a type flipped, NaN or infinity, a negative
number, an unknown key, a misspelt key, a key given twice, at every level; a value beyond what the
dataset's size allows: t-SNE perplexity, UMAP n_neighbors, kNN k, thumbnail and explorer caps; a report
key that cannot resolve: a pair naming an unknown model or one model twice, an explorer embedding not
computed) and each mutant must be either accepted by both doors or refused by both with the same lines,
one of which names the mutated key (size and report mutants must be refused); no other exception and no
traceback, whatever the input.

The counts of mutants tried and refused are printed at the end of the module (``pytest -s``) and
written to ``door_counts.json`` in pytest's temporary folder."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layeratlas.checks import check_config
from layeratlas.cli import main
from layeratlas.config import ConfigError, key_path
from tests.conftest import DEFAULT_CONFIG, TINY_CONFIG
from tests.snakemake_runs import snakemake

RAW = [yaml.safe_load(p.read_text()) for p in (TINY_CONFIG, DEFAULT_CONFIG)]
NAME_MAPS = {("datasets",), ("models",)}  # mappings whose keys are the user's own names
COUNTS: dict[str, Any] = {"tried": 0, "refused": 0, "accepted": 0, "by_kind": {}, "accepted_keys": []}


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    paths = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            paths += _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            paths += _paths(value, (*path, i))
    return paths


def _get(node: Any, path: tuple) -> Any:
    for part in path:
        node = node[part]
    return node


def _is_name_map(path: tuple) -> bool:
    """datasets, models and models.<m>.layers are keyed by the user's names (any name is a key)."""
    return path in NAME_MAPS or (len(path) == 3 and path[0] == "models" and path[2] == "layers")


FLIPS = [None, True, "text", -1, 2.5, [1], {"k": 1}]
# Keys whose limit is the dataset's size; both configs analyse digits (10 classes, at most 1,797 images).
SIZE_MUTANTS = st.one_of(
    st.tuples(st.just(("analyses", "tsne", "perplexity")), st.integers(700, 10**6)),
    st.tuples(st.just(("analyses", "umap", "n_neighbors")), st.integers(1_797, 10**6)),
    st.tuples(st.just(("analyses", "probes", "k")), st.integers(1_797, 10**6)),
    st.tuples(st.just(("analyses", "thumbnails", "max_points")), st.integers(1, 9)),
    st.tuples(st.just(("analyses", "explorer", "max_points")), st.integers(1, 9)),
)


# The report's keys (issue 23, item 3): a pair naming a model the config lacks or a model with itself, and
# an explorer embedding that is not computed; each must be refused naming the key.
REPORT_MUTANTS = st.sampled_from(["unknown pair", "self pair", "explorer embedding"])
MUST_REFUSE = ("size", "report")


def _report_mutant(config: dict, which: str, draw: st.DrawFn) -> tuple:
    models = list(config["models"])
    if which == "explorer embedding":
        analyses = config.setdefault("analyses", {})
        analyses["embeddings"] = ["pca"]
        analyses["explorer"] = {**(analyses.get("explorer") or {}), "enabled": True, "embedding": "umap"}
        return ("analyses", "explorer", "embedding")
    first = draw(st.sampled_from(models))
    second = first if which == "self pair" else draw(st.sampled_from(["nope", f"{first}x", "resnet50"]))
    pairs = config.setdefault("report", {}).setdefault("pairs", [])
    pairs.append([first, second])
    return ("report", "pairs", len(pairs) - 1)


@st.composite
def mutants(draw: st.DrawFn) -> tuple[str, tuple, str]:
    """(YAML text, the mutated key path, the kind of mutation)."""
    config = copy.deepcopy(draw(st.sampled_from(RAW)))
    kinds = ["flip", "nonfinite", "negative", "unknown", "misspelt", "twice", *MUST_REFUSE]
    kind = draw(st.sampled_from(kinds))
    if kind == "report":
        path = _report_mutant(config, draw(REPORT_MUTANTS), draw)
        return yaml.safe_dump(config, sort_keys=False), path, kind
    if kind == "size":  # a value the schema allows but the dataset's size cannot (issue 23, item 2)
        path, value = draw(SIZE_MUTANTS)
        analyses = config.setdefault("analyses", {})
        block = analyses.setdefault(path[1], {})
        if path[2] == "k":
            block["k"] = [*block.get("k", [1]), value]
            path = (*path, len(block["k"]) - 1)
        else:
            block[path[2]] = value
        return yaml.safe_dump(config, sort_keys=False), path, kind
    leaves = _paths(config)
    mappings = [p for p in [(), *leaves] if isinstance(_get(config, p), dict)]
    if kind in ("flip", "nonfinite", "negative"):
        if kind != "flip":
            numbers = [p for p in leaves if type(_get(config, p)) in (int, float)]
            leaves = numbers or leaves
        path = draw(st.sampled_from(leaves))
        old = _get(config, path)
        if kind == "flip":
            value = draw(st.sampled_from([v for v in FLIPS if type(v) is not type(old)]))
        elif kind == "nonfinite":
            value = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        else:
            value = -abs(old) - draw(st.integers(1, 10**6))
        _get(config, path[:-1])[path[-1]] = value
        return yaml.safe_dump(config, sort_keys=False), path, kind
    places = [p for p in mappings if not _is_name_map(p) and _get(config, p)]
    if kind == "unknown":
        where = draw(st.sampled_from([p for p in mappings if not _is_name_map(p)]))
        key = draw(st.text("abcdefghijklmnopqrstuvwxyz_", min_size=3, max_size=12))
        if key in _get(config, where):
            key += "_x"
        _get(config, where)[key] = draw(st.sampled_from([1, "x", None]))
        return yaml.safe_dump(config, sort_keys=False), (*where, key), kind
    where = draw(st.sampled_from(places))
    target = _get(config, where)
    key = draw(st.sampled_from(sorted(target)))
    if kind == "misspelt":
        i = draw(st.integers(0, len(key) - 1))
        typo = key[:i] + key[i + 1 :] if len(key) > 3 else key + "s"
        if typo in target or not typo:
            typo = key + "x"
        _get(config, where)
        renamed = {(typo if k == key else k): v for k, v in target.items()}
        if where:
            _get(config, where[:-1])[where[-1]] = renamed
        else:
            config = renamed
        return yaml.safe_dump(config, sort_keys=False), (*where, typo), kind
    # twice: the key's entry repeated in the YAML text (a plain loader keeps the last silently)
    root = node = yaml.compose(yaml.safe_dump(config, sort_keys=False))
    for part in where:
        node = next(v for k, v in node.value if k.value == str(part))
    node.value.append(copy.deepcopy(next((k, v) for k, v in node.value if k.value == str(key))))
    return yaml.serialize(root), (*where, key), kind


def _names_key(lines: list[str], path: tuple) -> bool:
    """One line is about the key's path (``path: ...``, after the file name for YAML problems), or
    about its parent's and names the key (an unknown key is reported at the mapping that holds it)."""
    full, parent = key_path(path), key_path(path[:-1])
    return any(
        line.startswith((f"{full}:", f"{full}."))  # the key, or an item inside it
        or f": {full}:" in line
        or (line.startswith(f"{parent}:") and repr(path[-1]) in line)
        for line in lines
    )


@settings(
    max_examples=150,
    derandomize=True,  # the same mutants on every run, so the counts in the closing note repeat
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(mutant=mutants())
def test_both_doors_agree_on_every_mutant(tmp_path_factory, capsys, mutant):
    text, path, kind = mutant
    folder = tmp_path_factory.mktemp("mutant")
    file = folder / "config.yaml"
    file.write_text(text)
    COUNTS["tried"] += 1
    tally = COUNTS["by_kind"].setdefault(kind, {"tried": 0, "refused": 0})
    tally["tried"] += 1
    # the Snakefile's door: snakemake has loaded the YAML; common.smk passes it and the file
    try:
        raw = yaml.safe_load(text)
        check_config(raw, files=[file])
        snakefile_lines = []
    except ConfigError as error:
        snakefile_lines = error.messages
    capsys.readouterr()
    code = main(["validate", str(file)])  # the user's door
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert snakefile_lines or kind not in MUST_REFUSE, f"{kind} mutant {key_path(path)} was accepted"
    if not snakefile_lines:
        COUNTS["accepted"] += 1
        COUNTS["accepted_keys"].append(f"{kind} {key_path(path)} = {_get(yaml.safe_load(text), path)!r}")
        assert code == 0 and "valid" in out, err
        return
    COUNTS["refused"] += 1
    tally["refused"] += 1
    assert code == 1 and out == ""
    assert all(line in err for line in snakefile_lines), (snakefile_lines, err)
    assert _names_key(snakefile_lines, path), (kind, key_path(path), snakefile_lines)


def test_both_doors_call_the_one_checker():
    """Agreement is structural: common.smk and `layeratlas validate` both call check_config."""
    import inspect

    from layeratlas import cli
    from tests.conftest import ROOT

    assert "check_config(" in (ROOT / "workflow" / "rules" / "common.smk").read_text()
    assert "check_config(" in inspect.getsource(cli._validate)


def test_nonfinite_and_repeated_keys_are_always_refused(tmp_path):
    """What the sweep found accepted: NaN and inf anywhere, and a model given twice."""
    for value in (math.nan, math.inf):
        config = copy.deepcopy(RAW[0])
        config["models"]["small_cnn"]["train"]["lr"] = value
        with pytest.raises(ConfigError, match=r"models.small_cnn.train.lr: (nan|inf) is not allowed"):
            check_config(config, deep=False)
    text = TINY_CONFIG.read_text() + "\n"
    file = tmp_path / "c.yaml"
    file.write_text(text.replace("models:\n", "models:\n  small_cnn: {architecture: alexnet}\n", 1))
    with pytest.raises(ConfigError, match="models.small_cnn: key 'small_cnn' is given twice"):
        check_config(yaml.safe_load(file.read_text()), files=[file], deep=False)


def test_snakemake_dry_run_shows_the_same_lines_as_validate(tmp_path, capsys):
    """The one subprocess check: the Snakefile's door, through snakemake itself, on a config with
    problems of several kinds, prints the lines `layeratlas validate` prints, before any job."""
    config = copy.deepcopy(RAW[0])
    config["seed"] = math.nan
    config["analyses"]["tsne"] = {"perplexty": 5}
    config["models"]["small_cnn"]["train"]["head_epochs"] = 5
    config["models"]["small_cnn"]["wieghts"] = "none"
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump(config))
    assert main(["validate", str(file)]) == 1
    lines = [line.strip() for line in capsys.readouterr().err.splitlines()[1:]]
    assert len(lines) == 3, lines  # the NaN, the closed tsne block, the misspelt key (head_epochs: later)
    result = snakemake(tmp_path / "run", "--dry-run", "--configfile", str(file), check=False)
    assert result.returncode != 0
    shown = result.stdout + result.stderr
    assert all(line in shown for line in lines), shown
    assert "Traceback" not in shown and not (tmp_path / "run" / "results").exists()


@pytest.fixture(scope="module", autouse=True)
def _report_counts(tmp_path_factory):
    yield
    if COUNTS["tried"]:
        summary = json.dumps(COUNTS)
        print(f"\nmutated configs: {summary}")
        (tmp_path_factory.getbasetemp() / "door_counts.json").write_text(summary)
