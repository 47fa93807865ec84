"""The continual protocol's config: the dataset, how it is cut into tasks, the model, the training,
the strategies and the seeds; and what one unit is about."""

from __future__ import annotations

import dataclasses
from typing import Literal

from pydantic import Field, field_validator, model_validator

from axionlab.config import RunConfig, Section
from axionlab.data.splits import Scenario
from axionlab.protocols.sections import (
    ArchitectureSpec,
    DatasetSpec,
    Seeds,
    StrategySpec,
    unique_labels,
)
from axionlab.train import TrainConfig


class StreamSection(Section):
    """How the dataset is cut into tasks, and under which scenarios the stream is learnt."""

    n_tasks: int = Field(default=5, ge=2)
    variant: Literal["split", "permuted", "rotated"] = "split"
    scenarios: list[Scenario] = Field(default=["class_il", "task_il"], min_length=1)

    @field_validator("scenarios")
    @classmethod
    def _unique(cls, scenarios: list[str]) -> list[str]:
        if len(set(scenarios)) != len(scenarios):
            raise ValueError(f"must not repeat a scenario, got {scenarios}")
        return scenarios


class ContinualConfig(RunConfig):
    protocol: Literal["continual"] = "continual"
    dataset: DatasetSpec
    stream: StreamSection = StreamSection()
    architecture: ArchitectureSpec
    train: TrainConfig = TrainConfig(optimizer="adam", lr=1e-3, epochs=10, batch_size=128)
    strategies: list[StrategySpec] = Field(min_length=1)
    seeds: Seeds = [0]

    @model_validator(mode="after")
    def _unique(self) -> ContinualConfig:
        unique_labels(self.strategies, "strategy")
        return self


@dataclasses.dataclass(frozen=True)
class ContinualUnit:
    """What one unit is about: a scenario and a strategy (the seed is ``Unit.seed``)."""

    scenario: Scenario
    strategy: StrategySpec
