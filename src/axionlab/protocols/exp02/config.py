"""EXP-02's config: the architecture family, the capacity searches, the calibration units and the
analysis, and the parameters of a unit."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, model_validator

from axionlab.capacity import ArchSpec, FitConfig, capacity_family
from axionlab.capacity.family import Kind
from axionlab.capacity.perceptron import Distribution
from axionlab.capacity.tasks import CrossKind
from axionlab.config import RunConfig, Section, check_memory, machine_memory
from axionlab.protocols.sections import Seeds

Group = Literal["depth", "width", "bottleneck", "frozen"]
Size = Annotated[int, Field(ge=1)]


class FamilySpec(Section):
    """One kind of the architecture family and its sweeps (unset: the library's defaults)."""

    kind: Kind
    groups: list[Group] = Field(["depth", "width", "bottleneck", "frozen"], min_length=1)
    base_width: int | None = Field(None, ge=1)
    depths: tuple[Size, ...] | None = Field(None, min_length=1)
    widths: tuple[Size, ...] | None = Field(None, min_length=1)
    bottlenecks: tuple[Size, ...] | None = Field(None, min_length=1)
    frozen_widths: tuple[Size, ...] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _unique_groups(self) -> FamilySpec:
        if len(set(self.groups)) != len(self.groups):
            raise ValueError(f"groups must be unique, got {self.groups}")
        return self

    def specs(self, input_shape: tuple[int, ...], n_classes: int) -> list[ArchSpec]:
        """The family's architectures in the configured groups."""
        family = capacity_family(
            self.kind,
            input_shape,
            n_classes=n_classes,
            base_width=self.base_width,
            depths=self.depths,
            widths=self.widths,
            bottlenecks=self.bottlenecks,
            frozen_widths=self.frozen_widths,
        )
        return [spec for spec in family if spec.group in self.groups]


class BisectionSection(Section):
    p_min: int = Field(1, ge=1)
    p_max_per_param: float = Field(4.0, gt=0)
    """Search up to this many samples per trainable parameter (Cover's point is 2 when binary)."""
    p_max_floor: int = Field(16, ge=1)
    """Smallest upper end of a search, for architectures with very few trainable parameters."""
    confidence: float = Field(0.95, gt=0, lt=1)

    def p_max(self, trainable_params: int) -> int:
        """Upper end of the search for an architecture with ``trainable_params``."""
        return max(self.p_min, self.p_max_floor, math.ceil(self.p_max_per_param * trainable_params))


class CrossSection(Section):
    """The cross-partition task: labels depend jointly on the two halves of the input."""

    kind: CrossKind = "table"
    rank: int = Field(1, ge=1)
    """Rank of the bilinear form (``bilinear`` only)."""


class CoverSection(Section):
    """Perceptron separability curves against Cover's closed form (the calibration unit)."""

    dims: list[Size] = Field([5, 10, 20], min_length=1)
    trials: int = Field(200, ge=10)
    max_ratio: float = Field(4.0, gt=2)
    """Points run from 1 to ``max_ratio · N``, every integer, so the curve crosses ½ inside."""
    distribution: Distribution = "gaussian"


class ReadoutSection(Section):
    """Frozen random layers of these widths under a trained linear readout (binary labels)."""

    kind: Kind = "mlp"
    widths: list[Size] = Field([8, 16, 32], min_length=1)


class AnalysisSection(Section):
    n_bootstrap: int = Field(2_000, ge=0)
    ci: float = Field(0.95, gt=0, lt=1)
    cv_folds: int | None = Field(None, ge=2)
    """None: leave-one-out cross-validated error of each fit."""
    aic_margin: float = Field(2.0, ge=0)
    """|ΔAIC| below this between the best volume and best area measure is inconclusive."""


class Exp02Config(RunConfig):
    protocol: Literal["exp02"] = "exp02"
    input_shape: tuple[int, ...] = Field((1, 4, 4), min_length=1)
    """Per-sample input shape; ``(C, H, W)`` when a CNN is in the family (MLPs flatten it)."""
    n_classes: int = Field(2, ge=2)
    family: list[FamilySpec] = Field(min_length=1)
    seeds: Seeds = [0, 1]
    distribution: Distribution = "gaussian"
    fit: FitConfig = FitConfig()
    bisection: BisectionSection = BisectionSection()
    cross: CrossSection = CrossSection()
    cover: CoverSection = CoverSection()
    readout: ReadoutSection = ReadoutSection()
    analysis: AnalysisSection = AnalysisSection()

    @model_validator(mode="after")
    def _check(self) -> Exp02Config:
        if min(self.input_shape) < 1:
            raise ValueError(f"input_shape must hold positive sizes, got {self.input_shape}")
        if self.input_shape[-1] < 2:
            raise ValueError(
                f"input_shape's last axis must be >= 2 to split into two halves, "
                f"got {self.input_shape}"
            )
        kinds = [f.kind for f in self.family] + [self.readout.kind]
        if "cnn" in kinds and len(self.input_shape) != 3:
            raise ValueError(f"a cnn needs input_shape (C, H, W), got {self.input_shape}")
        if self.cross.kind != "table" and self.n_classes != 2:
            raise ValueError(
                f"cross.kind '{self.cross.kind}' is binary; set n_classes: 2 or cross.kind: table"
            )
        if len({f.kind for f in self.family}) != len(self.family):
            raise ValueError("family must list each kind once")
        if len(set(self.readout.widths)) != len(self.readout.widths):
            widths = self.readout.widths
            raise ValueError(
                f"readout.widths must not repeat a value (they name units), got {widths}"
            )
        self._fits_memory()
        return self

    def architectures(self) -> list[ArchSpec]:
        """Every architecture of the family, in order, each distinct one once (first group wins)."""
        seen: set[tuple[str, tuple[int, ...], int]] = set()
        out = []
        for family in self.family:
            for spec in family.specs(self.input_shape, self.n_classes):
                if (spec.kind, spec.widths, spec.frozen) not in seen:
                    seen.add((spec.kind, spec.widths, spec.frozen))
                    out.append(spec)
        return out

    def readout_specs(self) -> list[ArchSpec]:
        """Binary frozen-feature readouts (exact capacity needs binary labels)."""
        kind = self.readout.kind
        return [
            ArchSpec(f"readout-{kind}-{w}", kind, "readout", self.input_shape, (w,), 2, 1)
            for w in self.readout.widths
        ]

    def _fits_memory(self) -> None:
        """Refuse sizes whose models, samples or LPs cannot fit this machine's memory."""
        for i, family in enumerate(self.family):
            for spec in family.specs(self.input_shape, self.n_classes):
                self._spec_fits(f"family.{i}", spec)
        for spec in self.readout_specs():
            self._spec_fits("readout.widths", spec)
        n = max(self.cover.dims)
        points = math.ceil(self.cover.max_ratio * n)
        # float64 points and the LP's constraint matrix, each (P, N).
        check_memory("cover.dims", 4 * 8.0 * points * n, f"the {points}x{n} separability LPs")

    def _spec_fits(self, field: str, spec: ArchSpec) -> None:
        params, trainable = _parameter_counts(spec)
        samples = self.bisection.p_max(trainable)
        pixels = math.prod(self.input_shape[1:]) if spec.kind == "cnn" else 1
        activations = sum(spec.widths) * pixels
        # Full-batch fits in float32: 4 values per parameter (weights, grads, Adam moments),
        # the samples themselves and the activations with their gradients.
        per_sample = 4.0 * (math.prod(self.input_shape) + 2 * activations)
        model_bytes = 4.0 * 4 * params
        data_bytes = per_sample * samples
        # Blame the search range when the architecture would fit with the default range.
        default = BisectionSection(
            p_min=self.bisection.p_min, p_max_floor=self.bisection.p_max_floor
        )
        total = machine_memory()
        if total is not None and model_bytes + per_sample * default.p_max(trainable) <= total:
            field = "bisection.p_max_per_param"
        check_memory(
            field,
            model_bytes + data_bytes,
            f"fitting '{spec.name}' ({params} parameters) on up to {samples} samples "
            f"(bisection.p_max_per_param={self.bisection.p_max_per_param:g})",
        )


def _parameter_counts(spec: ArchSpec) -> tuple[int, int]:
    """(total, trainable) parameters of :func:`axionlab.capacity.build_model`'s network."""
    fan_in = math.prod(spec.input_shape) if spec.kind == "mlp" else spec.input_shape[0]
    kernel = 1 if spec.kind == "mlp" else 9
    layers = []
    for w in spec.widths:
        layers.append(kernel * fan_in * w + w)
        fan_in = w
    readout = fan_in * spec.outputs + spec.outputs
    total = sum(layers) + readout
    return total, total - sum(layers[: spec.frozen])


@dataclass(frozen=True)
class CoverUnit:
    """The calibration unit: perceptron separability curves against Cover's closed form."""


@dataclass(frozen=True)
class ReadoutUnit:
    """A frozen random layer under a linear readout: exact vs trained capacity."""

    spec: ArchSpec


@dataclass(frozen=True)
class ArchUnit:
    """One architecture of the family: its boundary measures and both capacities."""

    spec: ArchSpec


Exp02Unit = CoverUnit | ReadoutUnit | ArchUnit
"""What a unit of EXP-02 is about."""
