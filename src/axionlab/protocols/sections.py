"""Config blocks shared by several protocols: datasets, architectures and CL strategies."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, cast

import torch
from pydantic import AfterValidator, Field, model_validator

from axionlab.config import Options, SafeLabel, Section, check_memory, registered_name
from axionlab.continual import STRATEGIES, build_strategy
from axionlab.data import DATASETS, Dataset, load_dataset
from axionlab.errors import ConfigError, DataError, InputError, UserError
from axionlab.execute.distributed import DistributedSpec
from axionlab.landscape import HFLogits
from axionlab.models import MODELS, build_model
from axionlab.repro import torch_generator
from axionlab.runs import PhaseRecord
from axionlab.train import load_checkpoint

DatasetName = Annotated[str, AfterValidator(registered_name(DATASETS))]
ModelName = Annotated[str, AfterValidator(registered_name(MODELS))]
StrategyName = Annotated[str, AfterValidator(registered_name(STRATEGIES))]


def _distinct(seeds: list[int]) -> list[int]:
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must not repeat a value (they name units), got {seeds}")
    return seeds


Seeds = Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1), AfterValidator(_distinct)]
"""A run's seeds: at least one, each ``>= 0``, none repeated (a seed is part of every unit id)."""

TRAINING_BYTES_PER_PARAMETER = 16
"""float32 weights, gradients and two Adam moments: what training holds per parameter."""


class _Labelled(Protocol):
    @property
    def display(self) -> str: ...


def unique_labels(specs: Sequence[_Labelled], what: str) -> list[str]:
    """The display labels of ``specs``; a repeated one is an error (units are named by them)."""
    labels = [spec.display for spec in specs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"{what} labels must be unique (set 'label'), got {labels}")
    return labels


@functools.lru_cache(maxsize=8)
def _load_dataset(name: str, root: str | None, seed: int, options_json: str) -> Dataset:
    return load_dataset(name, root=root, seed=seed, **json.loads(options_json))


class DatasetSpec(Section):
    """A dataset from the registry; real datasets need ``root`` (a local directory)."""

    name: DatasetName
    root: str | None = None
    options: Options = {}

    def load(self, seed: int) -> Dataset:
        """The dataset, split with ``seed``; cached per process (check and every unit share it)."""
        return _load_dataset(self.name, self.root, seed, json.dumps(self.options, sort_keys=True))

    def load_error(self, error: DataError, where: str) -> DataError:
        """``error`` naming ``<where>.root``; the set-it hint only when the root is missing.

        A corrupt or hostile file inside an existing root needs a re-download, not a new root.
        """
        if self.root is not None and Path(self.root).is_dir():
            return DataError(f"{where}.root: {error}")
        return DataError(
            f"{where}.root: {error}; set it in the config or with --set {where}.root=DIR"
        )


class ArchitectureSpec(Section):
    """A model from the registry, with constructor options and an optional display label.

    The label (or, without one, the registered name) names unit folders, so it must be a
    :data:`~axionlab.config.SafeName`.
    """

    name: ModelName
    options: Options = {}
    label: SafeLabel = ""

    @property
    def display(self) -> str:
        return self.label or self.name

    def build(self, data: Dataset, seed: int) -> torch.nn.Module:
        """The model for ``data``, initialised from the seed's ``("init", label)`` stream.

        A HuggingFace model (``name: hf``) is returned wrapped in
        :class:`~axionlab.landscape.HFLogits` (``input_ids -> logits``), carrying its ``family``
        and ``head_name`` (prefixed ``model.``), so every phase runs it as any other model. Its
        attention runs the eager kernel (second derivatives for the Hessian probes).
        """
        model = build_model(
            self.name,
            data.input_shape,
            len(data.classes),
            generator=torch_generator(seed, "init", self.display),
            **self.options,
        )
        if self.name != "hf":
            return model
        # eager attention: the Hessian probes differentiate twice, which torch's CPU SDPA
        # kernels do not implement (same function, other kernel)
        cast(Any, model).set_attn_implementation("eager")
        wrapped = HFLogits(model)
        wrapped.family = str(getattr(model, "family", "hf"))  # type: ignore[assignment]
        wrapped.head_name = f"model.{getattr(model, 'head_name', 'lm_head')}"  # type: ignore[assignment]
        return wrapped

    def load_trained(self, data: Dataset, seed: int, record: PhaseRecord) -> torch.nn.Module:
        """The model a phase stored as ``model.pt`` (checksums verified by the store), in eval."""
        model = self.build(data, seed)
        load_checkpoint(record.path / "model.pt", model)
        return model.eval()

    def check(self, input_shape: tuple[int, ...], num_classes: int, where: str) -> int:
        """Build the model shape-only (meta device) and check that training it fits in memory.

        Protocols call this from ``check_inputs`` once the dataset's input shape is known, so a
        bad option (a negative width, an unknown key) fails at ``check`` time.

        Parameters
        ----------
        input_shape, num_classes
            What the model is built for (one example's shape, the dataset's classes).
        where
            Dotted config key of this spec, e.g. ``"architectures.0"``.

        Returns
        -------
        The model's parameter count.

        Raises
        ------
        ConfigError
            Naming ``<where>.options`` (or ``<where>.name``) when the model cannot be built, or
            ``<where>.options`` when training it needs more memory than the machine has.
        """
        try:
            model = build_model(
                self.name, tuple(input_shape), num_classes, device="meta", **self.options
            )
        except UserError as err:
            raise ConfigError(f"{where}.options: {err}") from None
        except (TypeError, ValueError, RuntimeError) as err:
            message = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ConfigError(
                f"{where}.options: model '{self.name}' cannot be built for inputs of shape "
                f"{tuple(input_shape)} and {num_classes} classes with options {self.options} "
                f"({message}); fix the options"
            ) from None
        n_params = sum(math.prod(p.shape) for p in model.parameters())
        check_memory(
            f"{where}.options",
            float(n_params) * TRAINING_BYTES_PER_PARAMETER,
            f"training model '{self.display}' ({n_params:.3g} parameters)",
        )
        return n_params


class StrategySpec(Section):
    """A registered strategy, its constructor options and a label (a directory-safe name)."""

    name: StrategyName
    options: Options = Field(default_factory=dict)
    label: SafeLabel = ""

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


class DistributedSection(Section):
    """``distributed: {world_size, backend, replicas, launcher, address}``: a collective job.

    The model is sharded with FSDP2 over ``world_size / replicas`` ranks and the work spread over
    ``replicas`` copies; ``axionlab run`` spawns the ranks itself (``launcher: local``), runs
    them as a Ray Train job on the cluster at ``address`` (``launcher: ray``), or joins the world
    it was launched in by ``torchrun`` (whose size must then be ``world_size``).
    """

    world_size: int = Field(1, ge=1)
    backend: Literal["gloo", "nccl"] = "gloo"
    replicas: int = Field(1, ge=1)
    launcher: Literal["local", "ray"] = "local"
    address: str | None = None

    @model_validator(mode="after")
    def _replicas_divide(self) -> DistributedSection:
        self.spec()
        return self

    def spec(self) -> DistributedSpec:
        """The library's :class:`~axionlab.execute.distributed.DistributedSpec`."""
        try:
            return DistributedSpec(
                self.world_size, self.backend, self.replicas, self.launcher, self.address
            )
        except UserError as err:
            raise ValueError(str(err).removeprefix("distributed.")) from None
