"""The lab's published EXP-01 protocol (preliminary, Feb 2026) and a config's departures from it.

Every run lists, in ``tables/departures.csv`` and in its report, each setting where it differs
from the published protocol and each choice the publication leaves open, so that no departure is
ever undeclared. The comparison works on the resolved config as plain data (``model_dump()``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEPARTURE_COLUMNS = ("setting", "published", "used", "note")
"""Columns of :func:`protocol_departures` (``tables/departures.csv``)."""

PUBLISHED: dict[str, Any] = {
    "task_a.optimizer": "sgd",
    "task_a.lr": 0.1,
    "task_a.momentum": 0.9,
    "task_a.weight_decay": 5e-4,
    "task_a.epochs": 100,
    "task_a.warmup_epochs": 5,
    "task_a.schedule": "cosine",
    "task_a.batch_size": 128,
    "landscape.slices": 5,
    "landscape.steps": 50,
    "landscape.span": [-1.0, 1.0],
    "landscape.normalization": "filter",
    "landscape.split": "test",
    "task_b.train.optimizer": "sgd",
    "task_b.train.lr": 0.01,
    "task_b.eval_steps": [0, 10, 25, 50, 100, 250, 500, 1000, 5000],
    "task_b.aurc_max_step": 500,
}
"""Settings the publication states (REFERENCES: "The lab's EXP-01 as published")."""

PUBLISHED_EWC = {"strength": 1000.0, "fisher_samples": 1000}

OPEN_CHOICES: dict[str, str] = {
    "task_a.augment": "not stated (the standard CIFAR runs use random crop + flip)",
    "task_b.train.momentum": "not stated",
    "task_b.train.weight_decay": "not stated",
    "task_b.train.batch_size": "not stated",
    "task_b.stability": "none (a diverged run was scored as an accuracy)",
}
"""Settings the publication leaves open: always listed with the value this run used."""

STANDING = (
    (
        "landscape mode",
        "train mode (BatchNorm batch statistics, dropout on)",
        "eval mode",
        "the published grid overwrote running statistics used by later baselines",
    ),
    (
        "landscape centre",
        "no grid point at the trained weights (even grid)",
        "odd grid centred on the trained weights",
        "",
    ),
    (
        "landscape loss",
        "task-A test loss",
        "task-A loss on landscape.split",
        "Li et al. 2018 plot the training loss",
    ),
    (
        "H0/H1",
        "Ripser on the grid graph without vertex births",
        "cubical sublevel persistence (legacy statistic beside it with topology.legacy)",
        "the published H0 total equals Σf − min f + true H0",
    ),
    (
        "EWC Fisher",
        "diagonal Fisher from ~1000 samples; estimator not stated (no EWC in the code)",
        "per strategy options (default: per-example empirical, penalty λ/2)",
        "per-example / batch-mean Fisher traces differ 19–119× on the quick models "
        "(axionlab.continual.strategies)",
    ),
    (
        "divergence",
        "a non-finite run was scored (argmax of NaN logits)",
        "recorded as diverged, its outcomes nan and excluded",
        "",
    ),
)
"""Departures that hold for every run of this code, whatever the config."""


def _lookup(data: Mapping[str, Any], dotted: str) -> Any:
    value: Any = data
    for part in dotted.split("."):
        value = value[part] if isinstance(value, Mapping) else getattr(value, part)
    return value


def _same(published: Any, used: Any) -> bool:
    if isinstance(published, (list, tuple)) and isinstance(used, (list, tuple)):
        return len(published) == len(used) and all(
            _same(p, u) for p, u in zip(published, used, strict=True)
        )
    if isinstance(published, float) or isinstance(used, float):
        return isinstance(used, (int, float)) and float(published) == float(used)
    return bool(published == used)


def protocol_departures(config: Mapping[str, Any]) -> list[dict[str, str]]:
    """Rows ``setting, published, used, note`` for every departure and open choice of a config.

    Parameters
    ----------
    config
        The resolved EXP-01 config as plain data (``Exp01Config.model_dump()``).
    """
    rows = [dict(zip(DEPARTURE_COLUMNS, standing, strict=True)) for standing in STANDING]
    for setting, published in PUBLISHED.items():
        used = _lookup(config, setting)
        if setting == "landscape.steps" and used == published + 1:
            note = "odd, so that the trained weights are the grid centre"
        elif setting == "task_a.epochs" and used is None:
            used, note = config["task_a"]["steps"], "length given in steps"
        else:
            note = ""
        if not _same(published, used):
            rows.append(_row(setting, published, used, note))
    for setting, published_text in OPEN_CHOICES.items():
        rows.append(_row(setting, published_text, _lookup(config, setting), "open choice"))
    for strategy in config["task_b"]["strategies"]:
        if strategy["name"] != "ewc":
            continue
        options = strategy["options"]
        label = strategy["label"] or strategy["name"]
        for option, published in PUBLISHED_EWC.items():
            used = options.get(option, published)  # EWC's defaults are the published values
            if not _same(published, used):
                rows.append(_row(f"{label}.{option}", published, used, ""))
    return rows


def _row(setting: str, published: Any, used: Any, note: str) -> dict[str, str]:
    return dict(zip(DEPARTURE_COLUMNS, (setting, str(published), str(used), note), strict=True))
