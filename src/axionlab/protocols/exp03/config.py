"""EXP-03's config: datasets and the architectures each trains, training, the Gaussian and exact
Φ probes, robustness and analysis sections, and what one unit is about."""

from __future__ import annotations

import dataclasses
from typing import Literal

from pydantic import Field, model_validator

from axionlab.config import RunConfig, Section, check_memory
from axionlab.data import Dataset
from axionlab.errors import ConfigError, InputError
from axionlab.phi.gaussian import MeasureName
from axionlab.phi.nulls import INTEGRATION_NAMES
from axionlab.phi.trained import probed_weights
from axionlab.protocols.sections import ArchitectureSpec, DatasetSpec, Seeds, unique_labels
from axionlab.train import TrainConfig

OUTCOMES = ("gap", "test_acc", "noise_acc", "fgsm_acc")
"""What every integration measure is correlated with: the train and robustness phases' outcomes.
Defined here, not in the analysis, because the config sizes the analysis's resamples by it."""


class Exp03Dataset(DatasetSpec):
    """A dataset and the labels of the architectures trained on it (empty: all of them)."""

    architectures: list[str] = []


class PhiGaussianSection(Section):
    examples: int = Field(500, ge=2)
    """Test sequences whose hidden-state series are the VAR(1) trials."""
    measure: MeasureName = "phi_g"
    """Criterion of the minimum-information bipartition and of the bootstrap CI."""
    n_boot: int = Field(100, ge=2)
    n_null: int = Field(5, ge=1)
    level: float = Field(0.95, gt=0, lt=1)
    max_units: int = Field(10, ge=2, le=12)
    """Largest hidden size: the bipartition search visits 2^(H−1) − 1 partitions."""


class PhiExactSection(Section):
    nodes: int = Field(4, ge=2, le=4)
    """Units in the binarised network (IIT 3.0 Φ grows steeply with size; 4 takes seconds)."""


class RobustnessSection(Section):
    noise_sigma: float = Field(0.5, ge=0)
    """Gaussian input noise std, in units of the training data's std."""
    noise_repeats: int = Field(3, ge=1)
    fgsm_epsilon: float = Field(0.1, ge=0)


class AnalysisSection(Section):
    n_permutations: int = Field(10_000, ge=0)
    n_bootstrap: int = Field(2_000, ge=0)


class Exp03Config(RunConfig):
    protocol: Literal["exp03"] = "exp03"
    datasets: list[Exp03Dataset] = Field(min_length=1)
    architectures: list[ArchitectureSpec] = Field(min_length=1)
    seeds: Seeds = [0]
    train: TrainConfig = TrainConfig(
        optimizer="adam", lr=0.01, epochs=20, batch_size=128, schedule="cosine"
    )
    phi_gaussian: PhiGaussianSection = PhiGaussianSection()
    phi_exact: PhiExactSection = PhiExactSection()
    robustness: RobustnessSection = RobustnessSection()
    analysis: AnalysisSection = AnalysisSection()

    @model_validator(mode="after")
    def _labels(self) -> Exp03Config:
        labels = unique_labels(self.architectures, "architecture")
        for d, data in enumerate(self.datasets):
            unknown = [a for a in data.architectures if a not in labels]
            if unknown:
                raise ValueError(
                    f"datasets.{d}.architectures names {unknown}, which are not "
                    f"architecture labels; choose from {labels}"
                )
        units = sum(len(self.architectures_of(d)) for d in range(len(self.datasets)))
        units *= len(self.seeds)
        for name in ("n_permutations", "n_bootstrap"):
            draws = getattr(self.analysis, name)
            # Each resample holds a value per unit for every measure/outcome pair (float64).
            check_memory(
                f"analysis.{name}",
                2 * 8.0 * draws * units * len(INTEGRATION_NAMES) * len(OUTCOMES),
                f"{draws} resamples of {units} units",
            )
        return self

    def architectures_of(self, d: int) -> list[int]:
        """Indices of the architectures trained on dataset ``d``."""
        chosen = self.datasets[d].architectures
        return [
            a for a, arch in enumerate(self.architectures) if not chosen or arch.display in chosen
        ]

    def check_architectures(self, d: int, data: Dataset) -> None:
        """Refuse an architecture of dataset ``d`` that cannot be built for ``data`` or whose
        network the probes cannot read (before a run directory exists).

        Raises
        ------
        ConfigError
            Naming the architecture and the dataset: bad options, too much memory, a recurrence
            without a single tanh path, a hidden size outside ``phi_exact.nodes..
            phi_gaussian.max_units``, or a feed-forward body without a linear layer of at least
            ``phi_exact.nodes`` units.
        """
        for a in self.architectures_of(d):
            arch = self.architectures[a]
            where = f"architecture '{arch.display}' on dataset '{self.datasets[d].name}'"
            try:
                arch.check(data.input_shape, len(data.classes), f"architectures.{a}")
            except ConfigError as err:
                raise ConfigError(f"{err} ({where})") from None
            try:
                probed = probed_weights(arch.build(data, self.seeds[0]))
            except InputError as err:
                raise ConfigError(
                    f"{where}: {err}; restrict datasets.{d}.architectures "
                    f"or change architectures.{a}"
                ) from None
            size = probed.weight.shape if probed else (0, 0)
            recurrent = probed is not None and probed.recurrent
            self._check_probes(where, a, size[0] if recurrent else 0, min(size))

    def _check_probes(self, where: str, a: int, hidden: int, width: int) -> None:
        """``hidden``: the recurrent hidden size (0: feed-forward); ``width``: the smaller side
        of the probed linear layer (0: none)."""
        nodes, most = self.phi_exact.nodes, self.phi_gaussian.max_units
        if hidden and not nodes <= hidden <= most:
            raise ConfigError(
                f"{where}: hidden size {hidden} must lie in phi_exact.nodes={nodes}.."
                f"phi_gaussian.max_units={most} (set architectures.{a}.options.hidden)"
            )
        if not hidden and width < nodes:
            raise ConfigError(
                f"{where}: neither a one-layer recurrent model nor a body ending in a linear "
                f"layer of at least phi_exact.nodes={nodes} units; use elman, gru, lstm, rmlp "
                "or mlp"
            )


@dataclasses.dataclass(frozen=True)
class Exp03Unit:
    """What one EXP-03 unit is about: a dataset and an architecture (the seed is ``Unit.seed``)."""

    dataset: Exp03Dataset
    architecture: ArchitectureSpec
