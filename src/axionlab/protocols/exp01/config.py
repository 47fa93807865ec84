"""EXP-01's config: datasets, architectures, task A training, landscape, topology, curvature,
structure, task B and analysis sections, and what one unit is about."""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import torch.nn.functional as F
from pydantic import Discriminator, Field, Tag, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError
from torch import Tensor

from axionlab.checks import check_choice
from axionlab.config import RunConfig, Section, check_memory
from axionlab.continual.sharded import SHARDED_STRATEGIES
from axionlab.continual.stability import StabilityMode
from axionlab.data import Dataset, split_classes
from axionlab.errors import ConfigError, DataError, InputError, UserError
from axionlab.protocols.sections import (
    ArchitectureSpec,
    DatasetSpec,
    DistributedSection,
    Seeds,
    StrategySpec,
    unique_labels,
)
from axionlab.train import AUGMENTATIONS, AugmentName, TrainConfig

LossFn = Callable[[Tensor, Tensor], Tensor]
Measure = Callable[[], Mapping[str, Any]]

PLANE_BYTES_PER_CELL = 160
"""Estimated peak bytes per grid cell of a plane and its cubical persistence (values,
coordinates, filtration order, union-find parents and pair buffers, float64/int64)."""
TASK_A_DIVERGED = "task_a_diverged"
NONFINITE_SLICE = "nonfinite_slice"
NONFINITE = "nonfinite"

TOPOLOGY_FEATURES = (
    "h0_total_persistence",
    "h0_total_persistence_norm",
    "h0_max_persistence_norm",
    "h0_count_above",
    "h0_entropy",
    "h1_total_persistence",
    "h1_total_persistence_norm",
    "h1_max_persistence_norm",
    "h1_count_above",
    "h1_entropy",
)
CONTROL_FEATURES = ("legacy_h0_total", "window_mean_loss")
STRUCTURE_FEATURES = (
    "spectra_alpha",
    "spectra_alpha_weighted",
    "spectra_log_norm",
    "spectra_log_spectral_norm",
    "spectra_stable_rank",
    "nc1",
    "nc2_norms",
    "nc2_angles",
    "nc3",
    "nc4",
)
CURVATURE_FEATURES = (
    "hessian_top_eig",
    "hessian_trace",
    "fisher_trace",
    "sharpness",
    "adaptive_sharpness",
)


class Exp01Dataset(DatasetSpec):
    """A dataset and its task split: task A = the first ``task_a_classes`` classes, B = the rest."""

    task_a_classes: int = Field(5, ge=2)
    """At least 2: a one-class task A is always scored 1 and has nothing to forget."""

    def tasks(self, seed: int) -> tuple[Dataset, Dataset]:
        """Task A (the first ``task_a_classes`` classes) and task B (the rest) of the dataset.

        Raises
        ------
        ConfigError
            When ``task_a_classes`` leaves task B empty.
        DataError
            When the dataset cannot be loaded.
        """
        dataset = self.load(seed)
        if self.task_a_classes >= len(dataset.classes):
            raise ConfigError(
                f"datasets.task_a_classes must be below the {len(dataset.classes)} "
                f"classes of '{self.name}', got {self.task_a_classes}"
            )
        return split_classes(dataset, self.task_a_classes)

    def loss_fn(self) -> LossFn:
        """The loss of every probe (planes, curvature, basins): cross-entropy over classes."""
        return F.cross_entropy

    def undefined_structure(self) -> dict[str, Measure]:
        """Structure families undefined on this data, each a measure raising its reason: none."""
        return {}


def token_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean next-token cross-entropy (nats) of logits ``(B, T, V)`` against aligned targets
    ``(B, T)`` (no shift: :func:`~axionlab.data.text.next_token_pairs`), -100 skipped."""
    flat = logits.reshape(-1, logits.shape[-1]).float()
    return F.cross_entropy(flat, targets.reshape(-1), ignore_index=-100)


def text_demo_root() -> Path:
    """Where the shipped corpora and their tokenizer are prepared when ``root`` is not set:
    ``$AXIONLAB_TEXT_DEMO``, else ``$XDG_CACHE_HOME/axionlab/text-demo`` (``~/.cache/...``)."""
    if os.environ.get("AXIONLAB_TEXT_DEMO"):
        return Path(os.environ["AXIONLAB_TEXT_DEMO"]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser()
    return cache / "axionlab" / "text-demo"


class TextOptions(Section):
    """The two domains of a language task pair and how they are packed."""

    task_a: str = "prose"
    task_b: str = "code"
    seq_len: int = Field(64, ge=3)
    """Tokens per packed row; the model sees ``seq_len - 1`` (next-token pairs)."""
    tokenizer: str | None = None
    """A tokenizer directory; ``None``: the shipped demo tokenizer (only with the demo corpora)."""
    max_train: int | None = Field(None, ge=1)
    """Keep the first this many packed train rows of each domain (``None``: all)."""
    max_test: int | None = Field(None, ge=1)
    """Keep the first this many packed test rows of each domain (``None``: all)."""


@functools.lru_cache(maxsize=4)
def _text_tasks(root: str | None, options_json: str) -> tuple[Dataset, Dataset]:
    from axionlab.data.corpora import prepare_text_demo
    from axionlab.data.text import load_text_tasks, next_token_dataset

    opts = TextOptions.model_validate_json(options_json)
    tokenizer = opts.tokenizer
    if root is None:
        demo = prepare_text_demo(text_demo_root())
        root, tokenizer = str(demo.corpora), tokenizer or str(demo.tokenizer)
    if tokenizer is None:
        raise DataError(
            f"options.tokenizer: the text root {root} (not the shipped corpora) needs a "
            "tokenizer directory, e.g. the model's checkpoint dir; set options.tokenizer"
        )
    tasks = load_text_tasks(
        root, task_a=opts.task_a, task_b=opts.task_b, tokenizer=tokenizer, seq_len=opts.seq_len
    )
    pair = (
        next_token_dataset(tasks.task_a, tasks.vocab_size),
        next_token_dataset(tasks.task_b, tasks.vocab_size),
    )
    return _head(pair[0], opts), _head(pair[1], opts)


def _head(data: Dataset, opts: TextOptions) -> Dataset:
    """The first ``max_train``/``max_test`` rows of ``data`` (all with ``None``)."""
    train, test = slice(opts.max_train), slice(opts.max_test)
    return dataclasses.replace(
        data,
        x_train=data.x_train[train],
        y_train=data.y_train[train],
        x_test=data.x_test[test],
        y_test=data.y_test[test],
    )


class Exp01TextDataset(Section):
    """A language task pair: fine-tune on domain ``task_a``, then on ``task_b`` (same vocabulary).

    ``root`` holds one folder per domain (:func:`~axionlab.data.text.load_text_tasks`); without
    it, the shipped procedural corpora and their BPE tokenizer are written once under
    :func:`text_demo_root` (no network). Examples are next-token pairs
    (:func:`~axionlab.data.text.next_token_dataset`): the classes are the tokenizer's vocabulary.
    """

    name: Literal["text"] = "text"
    root: str | None = None
    options: TextOptions = TextOptions()

    @model_validator(mode="after")
    def _distinct(self) -> Exp01TextDataset:
        if self.options.task_a == self.options.task_b:
            raise ValueError(
                f"options.task_a and task_b must differ, both are {self.options.task_a!r}"
            )
        return self

    def tasks(self, seed: int) -> tuple[Dataset, Dataset]:
        """Task A's and task B's next-token pairs (independent of ``seed``: packing is fixed).

        Raises
        ------
        DataError
            A missing root, domain, file or tokenizer (the message names the path).
        """
        del seed
        try:
            return _text_tasks(self.root, self.options.model_dump_json())
        except UserError as err:
            raise DataError(str(err)) from None

    def loss_fn(self) -> LossFn:
        """The probes' loss: mean next-token cross-entropy per token (:func:`token_loss`)."""
        return token_loss

    def undefined_structure(self) -> dict[str, Measure]:
        """Neural collapse needs one class label per example; a language model's targets are
        per token, so its ``nc*`` features are ``nan`` with this reason (spectra and basins run).
        """

        def collapse() -> dict[str, Any]:
            raise InputError(
                "neural collapse needs one class label per example; next-token targets are per "
                "position (language model)"
            )

        return {"collapse": collapse}

    def load_error(self, error: DataError, where: str) -> DataError:
        """``error`` naming ``<where>`` (the dataset entry)."""
        return DataError(f"{where}: {error}")


DATASET_KINDS = ("registry", "text")


def _dataset_kind(value: Any) -> str:
    name = value.get("name") if isinstance(value, dict) else getattr(value, "name", None)
    return "text" if name == "text" else "registry"


Exp01DatasetEntry = Annotated[
    Annotated[Exp01Dataset, Tag("registry")] | Annotated[Exp01TextDataset, Tag("text")],
    Discriminator(_dataset_kind),
]
"""A registry dataset split by classes, or (``name: text``) a language task pair."""


@dataclasses.dataclass(frozen=True)
class TaskATrain(TrainConfig):
    """Task A's training: :class:`~axionlab.train.TrainConfig` plus its data augmentation."""

    augment: AugmentName = "none"
    """``crop_flip``: random crop after 4-pixel zero padding + horizontal flip (image inputs)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("augment", self.augment, tuple(AUGMENTATIONS), error=ConfigError)


class LandscapeSection(Section):
    slices: int = Field(2, ge=1)
    steps: int = Field(25, ge=3)
    span: tuple[float, float] = (-1.0, 1.0)
    normalization: Literal["filter", "layer", "none"] = "filter"
    ignore_1d: bool = True
    split: Literal["test", "train"] = "test"
    max_examples: int | None = Field(None, ge=1)
    strategy: Literal["loop", "vmap"] = "loop"
    """Fixed (not "auto") so that the same config always takes the same numerical path."""
    distributed: DistributedSection | None = None
    """Planes by a collective job with the model sharded (FSDP2): directions are then the
    world-size-invariant :func:`~axionlab.landscape.seeded_directions`, so a plane is the same
    at every world size (but not the plane of the unsharded path, whose directions share one
    stream); ``strategy`` does not apply."""

    @field_validator("steps")
    @classmethod
    def _odd(cls, steps: int) -> int:
        if steps % 2 == 0:
            raise ValueError(f"must be odd so the trained weights are the grid centre, got {steps}")
        # the plane, its evaluation coordinates and the persistence kernels' per-cell arrays
        check_memory("landscape.steps", PLANE_BYTES_PER_CELL * float(steps) ** 2, "the loss plane")
        return steps

    @field_validator("span")
    @classmethod
    def _increasing(cls, span: tuple[float, float]) -> tuple[float, float]:
        if not span[0] < span[1]:
            raise ValueError(f"must be an increasing (low, high) pair, got {list(span)}")
        return span

    def direction_options(self) -> dict[str, Any]:
        """How every random direction is drawn (:func:`~axionlab.landscape.random_directions`)."""
        return {"normalization": self.normalization, "ignore_1d": self.ignore_1d}

    def plane_options(self) -> dict[str, Any]:
        """The grid and evaluation settings of :func:`~axionlab.landscape.loss_plane`."""
        return {
            "steps": self.steps,
            "span": self.span,
            "max_examples": self.max_examples,
            "strategy": self.strategy,
        }

    def sharded(self) -> dict[str, Any]:
        """The options of :func:`~axionlab.landscape.sharded.distributed_loss_plane`."""
        if self.distributed is None:
            raise ConfigError("landscape.distributed is not set; the plane is not sharded")
        grid = {k: v for k, v in self.plane_options().items() if k != "strategy"}
        return grid | self.direction_options() | {"spec": self.distributed.spec()}

    @model_validator(mode="after")
    def _trained_point_on_grid(self) -> LandscapeSection:
        low, high = self.span
        position = -low / (high - low) * (self.steps - 1)
        if not (low <= 0.0 <= high and abs(position - round(position)) < 1e-9):
            raise ValueError(
                f"landscape.span {list(self.span)} with {self.steps} steps has no grid point at "
                "0 (the trained weights); use a symmetric span such as [-1, 1]"
            )
        return self


class TopologySection(Section):
    construction: Literal["top", "vertex"] = "top"
    threshold: float = Field(0.05, gt=0, lt=1)
    """Counts keep pairs whose persistence exceeds this fraction of the plane's dynamic range."""
    legacy: bool = True
    """Also compute the lab's published statistic (Ripser without vertex births)."""


class CurvatureSection(Section):
    enabled: bool = True
    examples: int | None = Field(512, ge=1)
    """Task-A training examples used by every curvature probe (None: all)."""
    hessian_tol: float = Field(1e-3, gt=0)
    max_hvp: int = Field(100, ge=2)
    trace_hvp: int = Field(30, ge=3)
    fisher: Literal["exact", "empirical", "sampled"] = "empirical"
    sharpness_rho: float = Field(0.05, gt=0)
    distributed: DistributedSection | None = None
    """The probes by a collective job on sharded copies of the model: Hessian products by
    central differences (``fd_step`` and ``fd_relative_error`` join ``curvature.json``), the
    empirical Fisher only, and start/probe vectors that do not depend on the world size."""

    @model_validator(mode="after")
    def _distributed_fisher(self) -> CurvatureSection:
        if self.distributed is not None and self.fisher != "empirical":
            raise ValueError(f"distributed probes take fisher: empirical, got {self.fisher!r}")
        return self

    def probes(self) -> dict[str, Any]:
        """The settings of :func:`~axionlab.landscape.curvature_profile`."""
        return {
            "hessian_tol": self.hessian_tol,
            "max_hvp": self.max_hvp,
            "trace_hvp": self.trace_hvp,
            "fisher": self.fisher,
            "sharpness_rho": self.sharpness_rho,
            "distributed": None if self.distributed is None else self.distributed.spec(),
        }


class StructureSection(Section):
    """Structural predictors beyond topology and curvature (the ``structure`` phase)."""

    enabled: bool = True
    examples: int | None = Field(512, ge=1)
    """Task-A training examples for the collapse features and the basin losses (None: all)."""
    basin_directions: int = Field(4, ge=1)
    basin_deltas: list[float] = Field(default=[0.1, 0.5], min_length=1)
    """Absolute loss rises δ (nats) whose first crossing defines a basin radius."""
    basin_relative: list[float] = [1.0]
    """Relative rises δ = fraction × centre loss."""
    basin_max_radius: float = Field(10.0, gt=0)
    basin_tol: float = Field(1e-3, gt=0)

    @field_validator("basin_deltas", "basin_relative")
    @classmethod
    def _positive(cls, values: list[float]) -> list[float]:
        if any(not v > 0 for v in values):
            raise ValueError(f"must be > 0, got {values}")
        return values

    def basin_names(self) -> list[str]:
        """One name per tolerance: ``abs<δ>`` for the absolute rises, then ``rel<fraction>``."""
        return [f"abs{d:g}" for d in self.basin_deltas] + [f"rel{r:g}" for r in self.basin_relative]

    def basin_search(self) -> dict[str, Any]:
        """The tolerances and search settings, as :func:`~axionlab.landscape.plane_basins` names
        them."""
        return {
            "deltas": self.basin_deltas,
            "relative": self.basin_relative,
            "max_radius": self.basin_max_radius,
            "tol": self.basin_tol,
        }

    def basin_columns(self) -> list[str]:
        """Names of the basin features, one per δ: radii (mean over directions) and areas."""
        names = self.basin_names()
        return [f"basin_radius_{n}" for n in names] + [f"basin_area_{n}" for n in names]

    def columns(self) -> list[str]:
        return [*STRUCTURE_FEATURES, *self.basin_columns()]


class Exp01Strategy(StrategySpec):
    @field_validator("name")
    @classmethod
    def _consolidating(cls, name: str) -> str:
        if name == "si":
            raise ValueError(
                "'si' must watch task A being trained, which EXP-01's shared "
                "task-A phase does not do; use ewc, online_ewc, mas, l2, lwf, "
                "replay or joint"
            )
        return name


class TaskBSection(Section):
    train: TrainConfig = TrainConfig(optimizer="sgd", lr=0.01, batch_size=128)
    eval_steps: list[int] = [0, 10, 25, 50, 100, 250, 500]
    aurc_max_step: int = Field(500, ge=1)
    stability: StabilityMode = "warn"
    """Before task B, each quadratic penalty's added curvature × step size is checked against
    the optimizer's stability limit (:mod:`axionlab.continual.stability`): ``warn`` runs it and
    marks it, ``error`` stops the run, ``scale`` lowers λ to a stable value and records it."""
    strategies: list[Exp01Strategy] = [
        Exp01Strategy(name="naive"),
        Exp01Strategy(name="ewc", options={"strength": 1000.0}),
    ]
    distributed: DistributedSection | None = None
    """Task B by a collective job with the model sharded (FSDP2): strategies ``naive``, ``ewc``
    (per-example empirical Fisher) and ``l2`` (:mod:`axionlab.continual.sharded`)."""

    def curve_options(self) -> dict[str, Any]:
        """The settings of :func:`~axionlab.continual.forgetting_curve`."""
        return {
            "train_config": self.train,
            "eval_steps": self.eval_steps,
            "aurc_max_step": self.aurc_max_step,
            "stability": self.stability,
            "distributed": None if self.distributed is None else self.distributed.spec(),
        }

    @model_validator(mode="after")
    def _check(self) -> TaskBSection:
        if "naive" not in unique_labels(self.strategies, "strategy"):
            raise ValueError("strategies must include 'naive' (the baseline of every benefit)")
        unsharded = [s.name for s in self.strategies if s.name not in SHARDED_STRATEGIES]
        if self.distributed is not None and unsharded:
            raise ValueError(
                f"distributed task B supports strategies {', '.join(SHARDED_STRATEGIES)}; "
                f"got {', '.join(unsharded)} (drop them or task_b.distributed)"
            )
        if min(self.eval_steps) < 0 or max(self.eval_steps) < 1:
            raise ValueError(
                f"eval_steps must be >= 0 with a positive maximum, got {self.eval_steps}"
            )
        return self


class AnalysisSection(Section):
    n_permutations: int = Field(10_000, ge=0)
    n_bootstrap: int = Field(2_000, ge=0)
    ridge_permutations: int = Field(500, ge=0)
    retention_steps: list[int] = [50, 500]
    """Steps k whose ret@k enters the correlation table as an outcome."""


class Exp01Config(RunConfig):
    protocol: Literal["exp01"] = "exp01"
    datasets: list[Exp01DatasetEntry] = Field(min_length=1)
    architectures: list[ArchitectureSpec] = Field(min_length=1)
    seeds: Seeds = [0]
    task_a: TaskATrain = TaskATrain(
        optimizer="sgd",
        lr=0.1,
        momentum=0.9,
        weight_decay=5e-4,
        epochs=10,
        batch_size=128,
        schedule="cosine",
    )
    landscape: LandscapeSection = LandscapeSection()
    topology: TopologySection = TopologySection()
    curvature: CurvatureSection = CurvatureSection()
    structure: StructureSection = StructureSection()
    task_b: TaskBSection = TaskBSection()
    analysis: AnalysisSection = AnalysisSection()

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Exp01Config:
        """Validate, naming a dataset's keys without the union's tag (``datasets.0.root``)."""
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as err:
            raise _untagged(err) from None

    def check_data(self) -> None:
        """Load every dataset (with the first seed) and check that task B is not empty, that
        every architecture can be built for it and fits in memory, and that task A's
        augmentation suits its inputs: at ``check`` time, before a run directory exists."""
        for i, spec in enumerate(self.datasets):
            try:
                task_a, _ = spec.tasks(self.seeds[0])
            except DataError as err:
                raise spec.load_error(err, f"datasets.{i}") from None
            for a, arch in enumerate(self.architectures):
                arch.check(task_a.input_shape, len(task_a.classes), f"architectures.{a}")
            if self.task_a.augment == "crop_flip" and len(task_a.input_shape) != 3:
                raise ConfigError(
                    f"task_a.augment: 'crop_flip' needs image inputs (C, H, W), but "
                    f"'{spec.name}' has inputs of shape {tuple(task_a.input_shape)}; "
                    "use augment: none"
                )

    @model_validator(mode="after")
    def _unique_labels(self) -> Exp01Config:
        unique_labels(self.architectures, "architecture")
        if self.topology.legacy and self.landscape.steps > 774:
            raise ValueError(
                "topology.legacy needs landscape.steps <= 774 (Ripser's index limit "
                "on grid graphs); set topology.legacy: false for larger grids"
            )
        missing = [k for k in self.analysis.retention_steps if k not in self.task_b.eval_steps]
        if missing:
            raise ValueError(f"analysis.retention_steps {missing} are not in task_b.eval_steps")
        return self


def _untagged(err: ValidationError) -> ValidationError:
    """``err`` with the dataset-kind tag (``registry``/``text``) dropped from each location."""
    details: list[InitErrorDetails] = []
    for e in err.errors(include_url=False):
        loc = list(e["loc"])
        if len(loc) > 2 and loc[0] == "datasets" and loc[2] in DATASET_KINDS:
            del loc[2]
        # the message as given (its template is already filled in)
        kind = PydanticCustomError(e["type"], e["msg"].replace("{", "{{").replace("}", "}}"))
        details.append({"type": kind, "loc": tuple(loc), "input": e["input"]})
    return ValidationError.from_exception_data(err.title, details)


@dataclasses.dataclass(frozen=True)
class Exp01Unit:
    """What one EXP-01 unit is about: a dataset, an architecture and a seed (``Unit.seed``)."""

    dataset: Exp01Dataset | Exp01TextDataset
    architecture: ArchitectureSpec
