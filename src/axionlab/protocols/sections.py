"""Config blocks shared by several protocols: datasets, architectures and CL strategies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Protocol

from pydantic import AfterValidator, Field, model_validator

from axionlab.config import Section, registered_name
from axionlab.continual import STRATEGIES, build_strategy
from axionlab.data import DATASETS
from axionlab.errors import InputError
from axionlab.models import MODELS

DatasetName = Annotated[str, AfterValidator(registered_name(DATASETS))]
ModelName = Annotated[str, AfterValidator(registered_name(MODELS))]
StrategyName = Annotated[str, AfterValidator(registered_name(STRATEGIES))]


class _Labelled(Protocol):
    @property
    def display(self) -> str: ...


def unique_labels(specs: Sequence[_Labelled], what: str) -> list[str]:
    """The display labels of ``specs``; a repeated one is an error (units are named by them)."""
    labels = [spec.display for spec in specs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"{what} labels must be unique (set 'label'), got {labels}")
    return labels


class DatasetSpec(Section):
    """A dataset from the registry; real datasets need ``root`` (a local directory)."""

    name: DatasetName
    root: str | None = None
    options: dict[str, Any] = {}


class ArchitectureSpec(Section):
    """A model from the registry, with constructor options and an optional display label."""

    name: ModelName
    options: dict[str, Any] = {}
    label: str = ""

    @property
    def display(self) -> str:
        return self.label or self.name


class StrategySpec(Section):
    """A registered strategy, its constructor options and a label (a directory-safe name)."""

    name: StrategyName
    options: dict[str, Any] = Field(default_factory=dict)
    label: str = Field(default="", pattern=r"^[\w.-]*$")

    @property
    def display(self) -> str:
        return self.label or self.name

    @model_validator(mode="after")
    def _buildable(self) -> StrategySpec:
        try:
            build_strategy(self.name, **self.options)
        except InputError as err:
            raise ValueError(str(err)) from None
        return self
