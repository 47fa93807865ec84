"""EXP-04's config: the sweep grid, the sequence sizes, the analysis thresholds, and what one unit
(a sweep point) is about."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from axionlab.checks import check_choice
from axionlab.config import RunConfig, Section, check_memory
from axionlab.errors import ConfigError
from axionlab.protocols.base import Unit
from axionlab.protocols.sections import Seeds
from axionlab.quantum import NOISE_MODELS, ORDERINGS, POOLS


def _choice(name: str, choices: tuple[str, ...]) -> AfterValidator:
    """Pydantic validator of one name against ``choices`` (a typo gets a did-you-mean hint)."""
    return AfterValidator(partial(check_choice, name, choices=choices, error=ConfigError))


NoiseName = Annotated[str, _choice("sweep.noise_models", NOISE_MODELS)]
PoolName = Annotated[str, _choice("sweep.pools", POOLS)]
OrderingName = Annotated[str, _choice("sweep.orderings", ORDERINGS)]


def strength_label(strength: float) -> str:
    """A noise strength as unit ids and tables name it (6 significant digits)."""
    return f"{strength:g}"


def noise_level(noise: str, strength: float) -> str:
    """Display name of a noise model at a strength ("none", "depolarizing 0.01")."""
    return noise if noise == "none" else f"{noise} {strength_label(strength)}"


@dataclass(frozen=True)
class Exp04Point:
    """One sweep point: what a unit is about (its seed is ``Unit.seed``)."""

    point: str
    """Readable id, e.g. ``n2_haar_k4_random_depolarizing0.01``."""
    n_qubits: int
    pool: str
    diversity: int
    ordering: str
    noise: str
    strength: float
    """0 for ``"none"`` noise."""

    def unit_id(self, seed: int) -> str:
        return f"{self.point}_s{seed}"


class SweepSection(Section):
    """The grid; every combination is a sweep point ("none" noise is one point, strength 0)."""

    qubits: list[Annotated[int, Field(ge=1, le=12)]] = Field([1, 2], min_length=1)
    lengths: list[Annotated[int, Field(ge=1)]] = Field([1, 2, 4, 8, 16], min_length=3)
    """Sequence lengths m, increasing; at least 3 for the decay fits."""
    orderings: list[OrderingName] = Field(list(ORDERINGS), min_length=1)
    diversities: list[Annotated[int, Field(ge=1)]] = Field([1, 2, 4, 8], min_length=1)
    """Numbers k of distinct operators (layers) in the pool."""
    pools: list[PoolName] = Field(["haar"], min_length=1)
    noise_models: list[NoiseName] = Field(list(NOISE_MODELS), min_length=1)
    strengths: list[Annotated[float, Field(gt=0, le=1)]] = Field([0.01, 0.05], min_length=1)
    """Noise strength p (depolarizing, dephasing) or γ (amplitude damping) per qubit and step."""

    @model_validator(mode="after")
    def _check(self) -> SweepSection:
        for name in ("qubits", "lengths", "orderings", "diversities", "pools", "noise_models"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"{name} must not repeat a value, got {values}")
        labels = [strength_label(s) for s in self.strengths]
        if len(set(labels)) != len(labels):
            raise ValueError(
                f"strengths must differ in their first 6 digits (they name units), "
                f"got {self.strengths}"
            )
        if self.lengths != sorted(self.lengths):
            raise ValueError(f"lengths must increase, got {self.lengths}")
        n = min(self.qubits)
        cliffords = 24**n * (1 if n == 1 else 2)
        if "clifford" in self.pools and max(self.diversities) > cliffords:
            raise ValueError(
                f"the clifford pool has {cliffords} distinct layers on {n} qubit(s); "
                f"diversities must not exceed it, got {max(self.diversities)}"
            )
        return self

    def noise_levels(self) -> list[tuple[str, float]]:
        """Every (noise model, strength) of the grid in config order; "none" once, at 0."""
        return [
            (model, strength)
            for model in self.noise_models
            for strength in ([0.0] if model == "none" else self.strengths)
        ]

    def points(self) -> list[Exp04Point]:
        """Every sweep point in a stable order (qubits, pool, k, ordering, noise level)."""
        return [
            Exp04Point(
                f"n{n}_{pool}_k{k}_{ordering}_"
                + (noise if noise == "none" else noise + strength_label(strength)),
                n,
                pool,
                k,
                ordering,
                noise,
                strength,
            )
            for n in self.qubits
            for pool in self.pools
            for k in self.diversities
            for ordering in self.orderings
            for noise, strength in self.noise_levels()
        ]


class AnalysisSection(Section):
    ci: float = Field(0.95, gt=0, lt=1)
    order_threshold: float = Field(0.05, gt=0, le=1)
    """Ordering matters at a unit when random orderings' outputs lie this far apart (trace)."""
    entropy_threshold: float = Field(0.01, gt=0)
    """Entropy sees the ordering when its standard deviation over orderings exceeds this (nats)."""


class Exp04Config(RunConfig):
    protocol: Literal["exp04"] = "exp04"
    sweep: SweepSection = SweepSection()
    seeds: Seeds = [0]
    n_orderings: int = Field(8, ge=2)
    """Random orderings per length behind ordering sensitivity and the entropy spread."""
    diversity_max_qubits: int = Field(6, ge=1)
    """Largest register for frame potential and commutator norms (they need full unitaries)."""
    analysis: AnalysisSection = AnalysisSection()

    @model_validator(mode="after")
    def _fits(self) -> Exp04Config:
        self._fits_memory()
        return self

    def _fits_memory(self) -> None:
        """Refuse sizes whose arrays cannot fit this machine (complex128: 16 bytes a value)."""
        n = max(self.sweep.qubits)
        # The sequence's and each random ordering's final density matrix, plus working copies.
        check_memory(
            "n_orderings",
            (self.n_orderings + 4) * 16.0 * 4.0**n,
            f"{self.n_orderings} random orderings' density matrices on {n} qubits",
        )
        full = [q for q in self.sweep.qubits if q <= self.diversity_max_qubits]
        if full:
            k, m = max(self.sweep.diversities), max(full)
            check_memory(
                "sweep.diversities",
                2 * k * 16.0 * 4.0**m,
                f"the full unitaries of {k} distinct layers on {m} qubits (frame potential)",
            )
        longest = max(self.sweep.lengths)
        check_memory(
            "sweep.lengths",
            (self.n_orderings + 2) * 8.0 * longest,
            f"the layer orders of length {longest}",
        )

    def units(self) -> list[Unit[Exp04Point]]:
        """The run's units: every sweep point × seed, in plan order."""
        return [
            Unit(point.unit_id(seed), point, seed)
            for point in self.sweep.points()
            for seed in self.seeds
        ]
