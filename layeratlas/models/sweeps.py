"""Sweeps: one model entry with ``sweep: {key.path: [values]}`` becomes one model per value, each a
normal model that flows through training, export, extraction and the analyses; the sweep's members are
then compared (test accuracy and training time per value, as seed report 004 compares dropouts).

Snapshots: ``train.snapshots: [0, 1, 2]`` adds one model per epoch whose weights are the training run's
checkpoint after that epoch, so the analyses show how the layers change during training (seed 003)."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def member_name(name: str, key: str, value: Any) -> str:
    """``cnn``, ``train.head.dropout``, 0.1 -> ``cnn-dropout0p1`` (a valid model name: no dots)."""
    text = str(value).lower().replace(".", "p").replace("-", "m").replace("+", "")
    return f"{name}-{key.rpartition('.')[2]}{re.sub(r'[^A-Za-z0-9_]', '_', text)}"


def set_key(spec: dict[str, Any], key: str, value: Any) -> None:
    """Set ``spec[a][b][c] = value`` for ``key = 'a.b.c'``, creating missing levels."""
    *parents, leaf = key.split(".")
    node = spec
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ValueError(f"sweep key {key!r}: {part!r} is not a mapping")
    node[leaf] = value


def get_key(spec: Mapping[str, Any], key: str) -> Any:
    node: Any = spec
    for part in key.split("."):
        node = node[part]
    return node


def expand_sweeps(models: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Models with every ``sweep`` expanded in place of its template, in order. Each member gets
    ``sweep_group: {name, parameter, value}``; members of a sweep have no ``sweep`` key, so expanding
    twice changes nothing."""
    out: dict[str, dict[str, Any]] = {}
    for name, spec in models.items():
        spec, sweep = _seeds_as_sweep(name, spec)
        if not sweep:
            out[name] = dict(spec)
            continue
        (key, values), *more = sweep.items()
        if more:
            raise ValueError(f"models.{name}.sweep: one parameter per sweep, got {list(sweep)}")
        made: dict[str, Any] = {}  # member name -> the swept value that made it
        written = "train.seeds" if (models[name].get("train") or {}).get("seeds") else f"sweep.{key}"
        for value in values:
            member = copy.deepcopy({k: v for k, v in spec.items() if k != "sweep"})
            set_key(member, key, value)
            member["sweep_group"] = {"name": name, "parameter": key, "value": value}
            new = member_name(name, key, value)
            if new in made:
                same = (
                    "is given twice" if made[new] == value else f"and {made[new]!r} make the same model name"
                )
                raise ValueError(
                    f"models.{name}.{written}: the value {value!r} {same} ({new!r}); give each value once"
                )
            if new in models or new in out:
                raise ValueError(
                    f"models.{name}.{written}: the member for {value!r} would be named {new!r}, the "
                    "name of another model; rename that model or this one"
                )
            made[new] = value
            out[new] = member
    return out


SEED_KEY = "train.seed"


def _seeds_as_sweep(name: str, spec: Mapping[str, Any]) -> tuple[Mapping[str, Any], dict | None]:
    """``train.seeds: [0, 1, 2]`` is a sweep over ``train.seed``: members ``<name>-seed0``, ... ."""
    seeds = (spec.get("train") or {}).get("seeds")
    if not seeds:
        return spec, spec.get("sweep")
    if spec.get("sweep"):
        raise ValueError(
            f"models.{name}: train.seeds and sweep both make one model per value; keep one of them "
            f"(to repeat a sweep over seeds, write one model per seed with its own sweep)"
        )
    spec = {**spec, "train": {k: v for k, v in spec["train"].items() if k != "seeds"}}
    return spec, {SEED_KEY: list(seeds)}


def seed_groups(models: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """Model trained once per seed (``train.seeds``) -> its member models, in order."""
    return {
        group: members
        for group, members in sweep_groups(models).items()
        if models[members[0]]["sweep_group"]["parameter"] == SEED_KEY
    }


def snapshot_name(name: str, epoch: int) -> str:
    return f"{name}-epoch{epoch}"


def expand_snapshots(models: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Models with, after each model whose ``train.snapshots`` lists epochs, one untrained model per
    epoch (``<name>-epoch<k>``, ``snapshot_of: {model, epoch, dataset}``) whose weights are the training
    run's checkpoint after that epoch. Expanding twice changes nothing."""
    out: dict[str, dict[str, Any]] = {}
    for name, spec in models.items():
        if spec.get("snapshot_of") and spec["snapshot_of"]["model"] in models:
            continue  # made by an earlier expansion: made again below, after its model
        out[name] = dict(spec)
        train = spec.get("train") or {}
        for epoch in train.get("snapshots") or []:
            new = snapshot_name(name, epoch)
            if new in out or (new in models and not models[new].get("snapshot_of")):
                raise ValueError(
                    f"models.{name}.train.snapshots: model name {new!r} is taken; rename the model"
                )
            member = copy.deepcopy({k: v for k, v in spec.items() if k not in ("train", "sweep_group")})
            member["snapshot_of"] = {"model": name, "epoch": int(epoch), "dataset": train["dataset"]}
            out[new] = member
    return out


def sweep_groups(models: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """Sweep name -> its member models, in order."""
    groups: dict[str, list[str]] = {}
    for name, spec in models.items():
        if spec.get("sweep_group"):
            groups.setdefault(spec["sweep_group"]["name"], []).append(name)
    return groups


def comparison_table(
    members: Sequence[str], specs: Sequence[Mapping], metrics: Sequence[Mapping]
) -> pl.DataFrame:
    """One row per member: the swept value, test accuracy and loss, best validation accuracy, time."""
    return pl.DataFrame(
        {
            "model": list(members),
            "parameter": [s["sweep_group"]["parameter"] for s in specs],
            "value": [str(s["sweep_group"]["value"]) for s in specs],
            "test_accuracy": [float(m["test_accuracy"]) for m in metrics],
            "test_loss": [float(m["test_loss"]) for m in metrics],
            "final_val_accuracy": [float(m["final_val_accuracy"]) for m in metrics],
            "epochs_run": [int(m.get("epochs_run", 0)) for m in metrics],
            "training_seconds": [float(m.get("training_seconds", float("nan"))) for m in metrics],
        }
    )


def comparison_figure(table: pl.DataFrame, title: str) -> Figure:
    """Test accuracy and training time per swept value (bars, in the config's order)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    x = range(table.height)
    labels = table["value"].to_list()
    for ax, column, label in (
        (axes[0], "test_accuracy", "test accuracy"),
        (axes[1], "training_seconds", "training time (s)"),
    ):
        values = table[column].to_numpy()
        ax.bar(x, values, color="tab:blue")
        for i, v in zip(x, values, strict=True):
            ax.annotate(f"{v:.3g}", (i, v), ha="center", va="bottom", fontsize="small")
        ax.set_xticks(list(x), labels)
        ax.set(xlabel=table["parameter"][0], ylabel=label, title=label)
        ax.margins(y=0.15)
    fig.suptitle(title)
    return fig
