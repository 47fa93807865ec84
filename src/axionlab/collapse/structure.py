"""Structural predictors of a trained classifier, each family undefined on its own terms.

:func:`structure_profile` measures the weight-matrix spectra (:mod:`axionlab.spectra`, HT-SR α,
weighted α, norms, stable rank: WeightWatcher's definitions, as ``spectra_<name>``), neural
collapse NC1–NC4 of the penultimate features of given examples against the final linear layer
(:func:`~axionlab.collapse.neural_collapse`), and any further families the caller adds (EXP-01
adds basin radii and areas). A family that is undefined for this model (no layer large enough for
a spectrum, a zero centre loss for a relative rise, ...) raises :class:`~axionlab.errors.InputError`
inside its measure: its columns stay ``nan`` and the reason names it. Never a failed run.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from axionlab.collapse.features import penultimate_features
from axionlab.collapse.metrics import neural_collapse
from axionlab.errors import InputError
from axionlab.models import get_head
from axionlab.spectra import layer_spectra, spectra_summary

Measure = Callable[[], Mapping[str, Any]]
"""A family of features: called once, returns its named values or raises ``InputError``."""


@dataclass(frozen=True)
class StructureProfile:
    """What :func:`structure_profile` returns.

    Attributes
    ----------
    features
        The requested ``columns`` first (``nan`` where their family is undefined), then every
        other value the families returned, in the order measured.
    reason
        ``""`` when every family is defined, else ``"<family>: <why>"`` joined by ``"; "``.
    """

    features: dict[str, Any]
    reason: str


def structure_profile(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    columns: Sequence[str],
    *,
    extra: Mapping[str, Measure] | None = None,
) -> StructureProfile:
    """Spectra, neural collapse and ``extra`` families of ``model``; undefined ones ``nan``.

    Parameters
    ----------
    model
        A classifier whose last layer is a linear head (:func:`~axionlab.models.get_head`).
    x, y
        Examples (e.g. a subset of the training set) whose penultimate features enter the
        collapse measures, with their labels.
    columns
        Names every profile has, defined or not (``nan`` until a family sets them).
    extra
        Further families by name, measured after ``spectra`` and ``collapse``.

    Raises
    ------
    InputError
        When the model has no linear head.
    """
    head = get_head(model)
    measures: dict[str, Measure] = {
        "spectra": lambda: {
            f"spectra_{k}": v
            for k, v in dataclasses.asdict(spectra_summary(layer_spectra(model))).items()
        },
        "collapse": lambda: dataclasses.asdict(
            neural_collapse(
                penultimate_features(model, x, head=head), y, head.weight.detach(), head.bias
            )
        ),
        **(extra or {}),
    }
    features: dict[str, Any] = dict.fromkeys(columns, math.nan)
    reasons: list[str] = []
    for family, measure in measures.items():
        try:
            features.update(measure())
        except InputError as err:
            reasons.append(f"{family}: {err}")
    return StructureProfile(features, "; ".join(reasons))
