"""Config blocks shared by several protocols: datasets and architectures."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator

from axionlab.config import Section, registered_name
from axionlab.data import DATASETS
from axionlab.models import MODELS

DatasetName = Annotated[str, AfterValidator(registered_name(DATASETS))]
ModelName = Annotated[str, AfterValidator(registered_name(MODELS))]


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


