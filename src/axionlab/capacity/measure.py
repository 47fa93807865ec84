"""Capacity measurements: the largest labelled set a model fits, found by bisection over seeds.

For one seed the data are drawn once at ``p_max`` samples and fits are tried on nested prefixes,
so "fits P samples" is (close to) monotone in P and bisection finds the largest P fitted to the
threshold accuracy in at most ``ceil(log2(p_max − p_min + 2))`` fits. Seeds give independent
draws of data and initialisation (named streams ``data`` and ``init``); the capacity is the mean
over seeds with a Student-t confidence interval, in samples and in bits (samples × log2 classes).
A seed whose answer hits ``p_max`` (or falls below ``p_min``) is censored: widen the range.

A linear readout on frozen features also has an exact answer (LP separability, Cover 1965), so its
*trainability gap* (exact − gradient-trained capacity) is reported beside the trained value.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt
import torch
from scipy import stats
from torch import nn

from axionlab.capacity._search import largest_true
from axionlab.capacity.family import ArchSpec, build_model
from axionlab.capacity.fit import FitConfig, fit_labels
from axionlab.capacity.perceptron import Distribution, perceptron_separable
from axionlab.capacity.tasks import CrossKind, cross_partition_task, random_labels
from axionlab.errors import InputError
from axionlab.execute import Executor, InProcessExecutor
from axionlab.repro import torch_generator

AccuracyAt = Callable[[int, int], float]


@dataclass(frozen=True)
class CapacityResult:
    """Largest number of samples fitted per seed, and their mean with a t confidence interval.

    ``samples[i]`` belongs to ``seeds[i]``; ``censored[i]`` marks an answer at a range end.
    ``evaluations`` counts fits (or LPs) over all seeds.
    """

    seeds: tuple[int, ...]
    samples: tuple[int, ...]
    censored: tuple[bool, ...]
    n_classes: int
    threshold: float
    confidence: float
    evaluations: int
    mean: float
    ci_low: float
    ci_high: float

    @property
    def bits_per_sample(self) -> float:
        """log2 of the number of classes: the information in one random label."""
        return math.log2(self.n_classes)

    @property
    def bits(self) -> float:
        """Mean capacity in bits."""
        return self.mean * self.bits_per_sample

    @property
    def bits_ci(self) -> tuple[float, float]:
        """Confidence interval of the capacity in bits."""
        return self.ci_low * self.bits_per_sample, self.ci_high * self.bits_per_sample


def _seed_search(
    accuracy_at: AccuracyAt, p_min: int, p_max: int, threshold: float, seed: int
) -> tuple[int, int]:
    return largest_true(lambda p: accuracy_at(p, seed) >= threshold, p_min, p_max)


def capacity_by_bisection(
    accuracy_at: AccuracyAt,
    *,
    seeds: Sequence[int],
    p_min: int,
    p_max: int,
    n_classes: int,
    threshold: float = 1.0,
    confidence: float = 0.95,
    executor: Executor | None = None,
) -> CapacityResult:
    """Largest P in ``[p_min, p_max]`` with ``accuracy_at(P, seed) >= threshold``, per seed.

    Parameters
    ----------
    accuracy_at : train accuracy reached on the first P samples of seed's draw; assumed
        non-increasing in P. Must be picklable for process executors.
    seeds : independent repetitions.
    p_min, p_max : search range, ``1 <= p_min <= p_max``.
    n_classes : label classes, for the conversion to bits.
    threshold : accuracy counted as fitted.
    confidence : level of the t interval over seeds.
    executor : maps the per-seed searches; in-process by default.

    Returns
    -------
    CapacityResult (interval collapses to the mean with one seed or no spread).

    Raises
    ------
    InputError : empty seeds or an invalid range, threshold or confidence.
    """
    if not seeds:
        raise InputError("seeds must not be empty")
    if not 1 <= p_min <= p_max:
        raise InputError(f"need 1 <= p_min <= p_max, got p_min={p_min}, p_max={p_max}")
    if not 0 < threshold <= 1 or not 0 < confidence < 1:
        raise InputError(
            f"threshold must be in (0, 1] and confidence in (0, 1), got {threshold}, {confidence}"
        )
    search = functools.partial(_seed_search, accuracy_at, p_min, p_max, threshold)
    found = (executor or InProcessExecutor()).map(search, list(seeds))
    samples = np.array([n for n, _ in found], dtype=np.float64)
    mean = float(samples.mean())
    half = 0.0
    if len(samples) > 1 and samples.std() > 0:
        sem = samples.std(ddof=1) / math.sqrt(len(samples))
        half = float(stats.t.ppf(0.5 + confidence / 2, len(samples) - 1) * sem)
    return CapacityResult(
        seeds=tuple(seeds),
        samples=tuple(n for n, _ in found),
        censored=tuple(n in (p_min - 1, p_max) for n, _ in found),
        n_classes=n_classes,
        threshold=threshold,
        confidence=confidence,
        evaluations=sum(e for _, e in found),
        mean=mean,
        ci_low=mean - half,
        ci_high=mean + half,
    )


@dataclass(frozen=True)
class _TrainedRandomLabels:
    spec: ArchSpec
    p_max: int
    fit: FitConfig
    distribution: Distribution

    def __call__(self, p: int, seed: int) -> float:
        X, y = random_labels(
            self.p_max,
            self.spec.input_shape,
            self.spec.n_classes,
            generator=torch_generator(seed, "data"),
            distribution=self.distribution,
        )
        model = build_model(self.spec, torch_generator(seed, "init"))
        return fit_labels(model, X[:p], y[:p], self.fit).accuracy


@dataclass(frozen=True)
class _ExactReadout:
    spec: ArchSpec
    p_max: int
    distribution: Distribution

    def __call__(self, p: int, seed: int) -> float:
        X, y = random_labels(
            self.p_max,
            self.spec.input_shape,
            2,
            generator=torch_generator(seed, "data"),
            distribution=self.distribution,
        )
        model = build_model(self.spec, torch_generator(seed, "init"))
        readout = cast(nn.Linear, model[-1])
        with torch.no_grad():
            features = model[:-1](X[:p]).double().numpy()
        return float(perceptron_separable(features, y[:p].numpy(), bias=readout.bias is not None))


@dataclass(frozen=True)
class _TrainedCrossPartition:
    spec: ArchSpec
    p_max: int
    fit: FitConfig
    kind: CrossKind
    mask: npt.NDArray[np.bool_] | None
    rank: int
    pool: int | None

    def __call__(self, p: int, seed: int) -> float:
        X, y = cross_partition_task(
            self.p_max,
            self.spec.input_shape,
            self.kind,
            generator=torch_generator(seed, "data"),
            mask=self.mask,
            rank=self.rank,
            pool=self.pool,
            n_classes=self.spec.n_classes,
        )
        model = build_model(self.spec, torch_generator(seed, "init"))
        return fit_labels(model, X[:p], y[:p], self.fit).accuracy


def memorization_capacity(
    spec: ArchSpec,
    *,
    seeds: Sequence[int],
    p_max: int,
    p_min: int = 1,
    fit: FitConfig | None = None,
    exact: bool = False,
    distribution: Distribution = "gaussian",
    confidence: float = 0.95,
    executor: Executor | None = None,
) -> CapacityResult:
    """Largest number of random-label samples ``spec`` fits, by bisection over nested draws.

    Parameters
    ----------
    spec : architecture; labels are uniform over ``spec.n_classes``.
    seeds : repetitions (each seeds the ``data`` and ``init`` streams).
    p_max, p_min : search range in samples.
    fit : training used to fit (its ``threshold`` is the accuracy counted as fitted); default
        ``FitConfig()``.
    exact : decide fits by LP separability of the frozen features instead of training; needs a
        binary spec whose hidden layers are all frozen (a random-feature readout; Cover 1965).
    distribution : input distribution, ``"gaussian"`` or ``"pm1"``.
    confidence : level of the t interval over seeds.
    executor : maps the per-seed searches.

    Returns
    -------
    CapacityResult in samples and bits (2 bits per weight at Cover's point; Gardner 1988).

    Raises
    ------
    InputError : ``exact`` for a spec with trained hidden layers or more than two classes, or an
        invalid range.
    """
    fit = fit or FitConfig()
    accuracy_at: AccuracyAt
    if exact:
        if spec.n_classes != 2 or spec.frozen != len(spec.widths):
            raise InputError(
                f"exact capacity needs a binary spec with all hidden layers frozen, got "
                f"'{spec.name}' (n_classes={spec.n_classes}, "
                f"frozen={spec.frozen} of {len(spec.widths)})"
            )
        accuracy_at = _ExactReadout(spec, p_max, distribution)
    else:
        accuracy_at = _TrainedRandomLabels(spec, p_max, fit, distribution)
    return capacity_by_bisection(
        accuracy_at,
        seeds=seeds,
        p_min=p_min,
        p_max=p_max,
        n_classes=spec.n_classes,
        threshold=1.0 if exact else fit.threshold,
        confidence=confidence,
        executor=executor,
    )


def cross_partition_capacity(
    spec: ArchSpec,
    kind: CrossKind,
    *,
    seeds: Sequence[int],
    p_max: int,
    p_min: int = 1,
    fit: FitConfig | None = None,
    mask: npt.ArrayLike | None = None,
    rank: int = 1,
    pool: int | None = None,
    confidence: float = 0.95,
    executor: Executor | None = None,
) -> CapacityResult:
    """Largest number of cross-partition samples ``spec`` fits, analogous to memorization capacity.

    Parameters
    ----------
    spec : architecture.
    kind : ``"table"`` (random labels over pairs of halves), ``"bilinear"`` or ``"parity"``; see
        :func:`~axionlab.capacity.tasks.cross_partition_task`.
    seeds, p_max, p_min, fit, confidence, executor : as in :func:`memorization_capacity`.
    mask : part A of the input (default: first half of the last axis); compare the result with
        :func:`~axionlab.capacity.boundary.partition_cut` for the same mask (Levine et al. 2018).
    rank : rank of the bilinear form.
    pool : halves per side for ``table``; default ``ceil(sqrt(p_max))`` so that the nested draws
        share one pool.

    Returns
    -------
    CapacityResult in samples and bits.

    Raises
    ------
    InputError : invalid task parameters or range.
    """
    fit = fit or FitConfig()
    part = None if mask is None else np.asarray(mask, dtype=bool)
    # Draw once to validate the task parameters here rather than inside a worker.
    cross_partition_task(
        1,
        spec.input_shape,
        kind,
        generator=torch.Generator(),
        mask=part,
        rank=rank,
        pool=pool if pool is not None else math.isqrt(max(p_max - 1, 0)) + 1,
        n_classes=spec.n_classes,
    )
    trial = _TrainedCrossPartition(spec, p_max, fit, kind, part, rank, pool)
    return capacity_by_bisection(
        trial,
        seeds=seeds,
        p_min=p_min,
        p_max=p_max,
        n_classes=spec.n_classes,
        threshold=fit.threshold,
        confidence=confidence,
        executor=executor,
    )


@dataclass(frozen=True)
class ReadoutCapacity:
    """Exact (LP) and gradient-trained capacity of a trained readout on frozen random features.

    ``trainability_gap`` = exact − trained mean capacity in bits (≥ 0 up to noise).
    """

    exact: CapacityResult
    trained: CapacityResult
    trainable_params: int

    @property
    def exact_bits_per_param(self) -> float:
        """Exact capacity in bits per trainable parameter (≈ 2 by Cover 1965)."""
        return self.exact.bits / self.trainable_params

    @property
    def trained_bits_per_param(self) -> float:
        """Gradient-trained capacity in bits per trainable parameter."""
        return self.trained.bits / self.trainable_params

    @property
    def trainability_gap(self) -> float:
        """Bits the optimizer fails to store that the readout could hold."""
        return self.exact.bits - self.trained.bits


def readout_capacity(
    spec: ArchSpec,
    *,
    seeds: Sequence[int],
    p_max: int,
    p_min: int = 1,
    fit: FitConfig | None = None,
    distribution: Distribution = "gaussian",
    confidence: float = 0.95,
    executor: Executor | None = None,
) -> ReadoutCapacity:
    """Memorization capacity of a frozen-feature readout, exactly by LP and by gradient training.

    Parameters
    ----------
    spec : binary spec whose hidden layers are all frozen (e.g. the ``frozen`` family group).
    seeds, p_max, p_min, fit, distribution, confidence, executor : as in
        :func:`memorization_capacity`; both measurements use the same data and features per seed.

    Returns
    -------
    ReadoutCapacity with bits per trainable parameter and the trainability gap.

    Raises
    ------
    InputError : a spec that is not a binary frozen-feature readout, or an invalid range.
    """
    exact, trained = (
        memorization_capacity(
            spec,
            seeds=seeds,
            p_max=p_max,
            p_min=p_min,
            fit=fit,
            exact=use_lp,
            distribution=distribution,
            confidence=confidence,
            executor=executor,
        )
        for use_lp in (True, False)
    )
    model = build_model(spec, torch.Generator())
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return ReadoutCapacity(exact, trained, params)
