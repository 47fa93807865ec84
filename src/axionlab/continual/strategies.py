"""Continual-learning strategies behind one interface, registered by name in :data:`STRATEGIES`.

A :class:`Strategy` is driven by a stream runner (:func:`axionlab.continual.run_stream`) through
hooks around the one training loop :func:`axionlab.train.train`:

``before_task`` → ``train_data`` (what to train on) → per mini-batch ``penalty(model)`` and
``batch_penalty(x, logits)`` added to the loss, ``on_step`` after every optimizer step →
``after_task`` (consolidate: importances, anchors, buffers, teacher copies).

An instance carries state across the tasks of one stream; build a fresh one per stream.

Quadratic regularisers share one form, ``c · λ · Σ_t Σ_i Ω_{t,i} (θ_i − θ*_{t,i})²``:

========== ======= =========================================== ==================================
name        c       importance Ω                                 terms kept
========== ======= =========================================== ==================================
ewc         1/2     diagonal Fisher of each task                 one per task (anchor θ*_t)
online_ewc  1/2     γ·Ω_old + Fisher of the last task            one, anchored at the latest θ*
si          1       Σ_tasks ω/(Δθ² + ξ), ω = Σ_steps −g·Δθ       one, anchored at the latest θ*
mas         1       Σ_tasks mean_x |∂‖f(x)‖²₂/∂θ|                one, anchored at the latest θ*
l2          1/2     1                                            one, anchored at the latest θ*
========== ======= =========================================== ==================================

``ewc_kfac`` replaces the diagonal Ω by per-layer Kronecker factors (:class:`EWCKFAC`); its
quadratic form is ``(λ/2) Σ_t Σ_l tr(Δ_lᵀ G_{t,l} Δ_l A_{t,l})``, one anchor at the latest θ*.

A growing class-incremental head compares only the leading rows an anchor has; new rows are free.

Language models. Every strategy runs on next-token data (``x`` token ids ``(N, T)``, targets
``(N, T)``, model logits ``(B, T, V)``, e.g. :class:`~axionlab.landscape.hf.HFLogits` on
:func:`~axionlab.data.text.next_token_pairs`): the example is the *sequence*. EWC's Fisher is per
sequence with the sequence's loss its mean token cross-entropy
(:func:`~axionlab.landscape.fisher.fisher_diagonal` on sequence targets; ``fisher="exact"`` is
refused there, ``"empirical"`` and ``"sampled"`` work); MAS's ``‖f(x)‖²`` is averaged over
positions; LwF distils every position over the whole vocabulary; replay and joint keep whole
sequences. Penalties cover every trainable parameter, embeddings included, a tied parameter
(GPT-2's ``wte``/``lm_head``) once, as ``named_parameters()`` yields it. Task-IL (masked logits)
does not apply.

EWC strength conventions
------------------------
"λ = 1000" names no strength until the Fisher estimator and the penalty's constant are fixed.
Peer libraries differ (Kirkpatrick et al. 2017 write the penalty with ½ and a per-example Fisher):

===================== ======== ============================================ =====================
code                   constant Fisher                                       λ giving our strength
===================== ======== ============================================ =====================
axionlab (default)     λ/2      per-example empirical (``per_example``)      λ
van de Ven et al. repo λ/2      per-example (exact or empirical)             λ
Avalanche EWCPlugin    λ        squared gradient of the batch-mean loss,     ≈ λ·r_B/2
                                averaged over batches (``batch_mean``, B)
Mammoth ``ewc_on``     λ        per-example, weighted by p(y|x)              ≈ λ/2
GEM's EWC baseline     λ        squared gradient of one mean loss over the   ≫ λ·r_B/2 (grows
                                task's memories (batch-mean, B = memory)     with the memory)
===================== ======== ============================================ =====================

``r_B`` is the per-example / batch-mean Fisher trace ratio at batch size ``B``. Measured on the
quick config's trained task-A models (digits 0–4, empirical Fisher on 900 task-A training
examples; ``python benchmarks/ewc_fisher.py RUN_DIR``, 2026-12-02):

============ ====== ====== =======
model         r_32   r_64   r_128
============ ====== ====== =======
mlp-64x2      34.1   46.0   39.5
cnn           35.4   72.1   119.2
vit_mini      19.4   48.4   95.3
============ ====== ====== =======

So at batch 64 axionlab's λ = 1000 is Avalanche's λ ≈ 23–36k and Mammoth's ≈ 500. Options
reproduce the peers' definitions: ``fisher_estimate="batch_mean"`` with ``fisher_batch_size=B``
and ``penalty="full"`` (no ½) is Avalanche's penalty at its batch size ``B``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from axionlab.checks import check_choice, check_count, check_positive, check_probability
from axionlab.continual.buffer import ReservoirBuffer
from axionlab.data.splits import Scenario, Task, random_subset
from axionlab.errors import InputError
from axionlab.landscape.fisher import (
    FISHER_ESTIMATORS,
    FISHER_KINDS,
    FisherEstimator,
    FisherKind,
    fisher_diagonal,
)
from axionlab.landscape.operators import KfacFisher, KroneckerFactor, kfac_factors
from axionlab.registry import Registry

Data = tuple[Tensor, Tensor]
Params = dict[str, Tensor]
PenaltyForm = Literal["half", "full"]
PENALTY_FORMS: tuple[PenaltyForm, ...] = get_args(PenaltyForm)


@dataclass(frozen=True, eq=False)
class TaskContext:
    """What a strategy may know about the task being learnt.

    Attributes
    ----------
    scenario
        ``"class_il"``, ``"task_il"`` or ``"domain_il"``.
    class_groups
        Task-incremental only: the output units of every task of the stream (masked logits);
        ``None`` in the other scenarios.
    generator
        Random stream for the strategy's own draws (reservoir slots, Fisher subsets).
    """

    scenario: Scenario
    class_groups: tuple[tuple[int, ...], ...] | None
    generator: torch.Generator


class Strategy:
    """Base class and the naive strategy (plain fine-tuning); subclasses override its hooks."""

    name: ClassVar[str] = "naive"

    def __init__(self) -> None:
        self.tasks_seen = 0

    def before_task(self, model: nn.Module, task: Task, context: TaskContext) -> None:
        """Called before training on ``task`` (after the head has grown to its classes)."""

    def train_data(self, task: Task) -> Data:
        """The ``(x, y)`` to train on for ``task``; by default its training split."""
        return task.train

    def penalty(self, model: nn.Module) -> Tensor | None:
        """A parameter regulariser added to every mini-batch loss, or ``None``."""
        return None

    def batch_penalty(self, x: Tensor, logits: Tensor) -> Tensor | None:
        """A loss term on the mini-batch inputs and the model's full logits, or ``None``."""
        return None

    def on_step(self, model: nn.Module, step: int) -> None:
        """Called after every optimizer step, with that step's gradients still in ``p.grad``."""

    def after_task(self, model: nn.Module, task: Task, context: TaskContext) -> None:
        """Called after training on ``task``; subclasses consolidate, then call this."""
        self.tasks_seen += 1


StrategyFactory = Callable[..., Strategy]
STRATEGIES: Registry[StrategyFactory] = Registry[StrategyFactory]("strategy")
"""Strategy constructors by name: ``STRATEGIES.get("ewc")(strength=1000.0)``."""

STRATEGIES.add("naive", Strategy)


def build_strategy(name: str, **options: Any) -> Strategy:
    """Construct the registered strategy ``name`` with its ``options``.

    Raises
    ------
    UnknownNameError
        For an unregistered name (with a suggestion).
    InputError
        For an option the strategy does not take.
    """
    factory = STRATEGIES.get(name)
    try:
        return factory(**options)
    except TypeError as error:
        raise InputError(f"bad options for strategy '{name}': {error}") from None


def _trainable(model: nn.Module) -> Params:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def _snapshot(model: nn.Module) -> Params:
    # real copies: a view of the live tensors would make every difference to it zero
    return {n: p.detach().clone() for n, p in _trainable(model).items()}


def _leading(t: Tensor, shape: torch.Size) -> Tensor:
    """The leading block of ``t`` with ``shape`` (old rows of a head that has since grown)."""
    if t.shape == shape:
        return t
    return t[tuple(slice(0, s) for s in shape)]


def _pad(t: Tensor, shape: torch.Size) -> Tensor:
    """``t`` zero-padded to ``shape`` (an importance for a head that has since grown)."""
    if t.shape == shape:
        return t
    out = t.new_zeros(shape)
    out[tuple(slice(0, s) for s in t.shape)] = t
    return out


class _Columns(nn.Module):
    """The logits of a subset of output units (one task's head under task-IL)."""

    def __init__(self, net: nn.Module, columns: tuple[int, ...]) -> None:
        super().__init__()
        self.net = net
        self.columns = list(columns)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.net(x)
        return out[:, self.columns]


def _task_view(model: nn.Module, task: Task, context: TaskContext) -> tuple[nn.Module, Data, str]:
    """The classifier a task's importance is measured on, its data and the parameter-name prefix.

    Under task-IL the task sees only its own output units, so labels are re-indexed into them.
    """
    if context.class_groups is None:
        return model, task.train, ""
    if task.train[1].dim() != 1:
        raise InputError("task-IL (masked output units) does not apply to per-token targets")
    columns = tuple(sorted(task.classes))
    x, y = task.train
    return _Columns(model, columns), (x, torch.searchsorted(torch.tensor(columns), y)), "net."


class QuadraticStrategy(Strategy):
    """``factor · strength · Σ_terms Σ_i Ω_i (θ_i − θ*_i)²`` over consolidated terms."""

    factor: float = 1.0

    def __init__(self, strength: float) -> None:
        super().__init__()
        if not strength >= 0 or strength == float("inf"):
            raise InputError(f"strength must be a finite number >= 0, got {strength}")
        self.strength = strength
        self.terms: list[tuple[Params, Params]] = []  # (importance Ω, anchor θ*)

    def max_curvature(self) -> float:
        """The largest Hessian eigenvalue the penalty adds: ``2 · factor · λ · max_i Σ_t Ω_{t,i}``.

        The penalty's Hessian is diagonal, so this is exact; 0 before any consolidation.
        """
        if not self.terms:
            return 0.0
        summed: dict[str, Tensor] = {}
        for importance, _ in self.terms:
            for name, omega in importance.items():
                if name not in summed:
                    summed[name] = omega
                    continue
                # terms of a growing head cover only their leading rows
                pairs = zip(summed[name].shape, omega.shape, strict=True)
                shape = torch.Size(max(a, b) for a, b in pairs)
                summed[name] = _pad(summed[name], shape) + _pad(omega, shape)
        largest = max(float(omega.max()) for omega in summed.values())
        return 2.0 * self.factor * self.strength * largest

    def penalty(self, model: nn.Module) -> Tensor | None:
        if not self.terms:
            return None
        params = _trainable(model)
        total = torch.zeros((), device=next(iter(params.values())).device)
        for importance, anchor in self.terms:
            for name, omega in importance.items():
                theta = _leading(params[name], anchor[name].shape)
                total = total + (omega * (theta - anchor[name]).square()).sum()
        return self.factor * self.strength * total

    def consolidate(self, model: nn.Module, importance: Params, decay: float | None) -> None:
        """Add a term anchored at the current weights; with ``decay``, merge into the one term."""
        anchor = _snapshot(model)
        if decay is None or not self.terms:
            self.terms.append((importance, anchor))
            return
        old = self.terms[0][0]
        merged = {
            n: w + decay * _pad(old[n], w.shape) if n in old else w for n, w in importance.items()
        }
        self.terms = [(merged, anchor)]


@STRATEGIES.register("ewc")
class EWC(QuadraticStrategy):
    """Elastic weight consolidation (Kirkpatrick et al. 2017, PNAS, Eq. 3).

    Penalty ``Σ_t (λ/2) Σ_i F_{t,i} (θ_i − θ*_{t,i})²`` with one term per past task. ``F_t`` is the
    diagonal Fisher of task ``t`` (:func:`~axionlab.landscape.fisher.fisher_diagonal`) of the kind
    named by ``fisher`` on at most ``fisher_samples`` training examples: per example by default,
    or with ``fisher_estimate="batch_mean"`` from squared gradients of the mean loss over batches
    of ``fisher_batch_size`` (Avalanche's estimator). ``penalty="full"`` drops the ½. The module
    docstring converts λ between these conventions.

    On next-token data the example is the sequence: ``F_i = (1/N) Σ_n (∂ℓ_n/∂θ_i)²`` with ``ℓ_n``
    sequence ``n``'s mean token cross-entropy (as
    :func:`~axionlab.landscape.hf.sequence_fisher_diagonal`), over at most ``fisher_samples``
    sequences; ``fisher="exact"`` is refused there.
    """

    name = "ewc"

    def __init__(
        self,
        strength: float = 1000.0,
        *,
        fisher: FisherKind = "empirical",
        fisher_samples: int | None = 1000,
        fisher_estimate: FisherEstimator = "per_example",
        fisher_batch_size: int = 64,
        penalty: PenaltyForm = "half",
    ) -> None:
        super().__init__(strength)
        check_choice("fisher", fisher, FISHER_KINDS)
        check_choice("fisher_estimate", fisher_estimate, FISHER_ESTIMATORS)
        if fisher == "exact" and fisher_estimate == "batch_mean":
            raise InputError(
                "fisher_estimate='batch_mean' needs fisher='empirical' or 'sampled', got 'exact'"
            )
        check_choice("penalty", penalty, PENALTY_FORMS)
        check_count("fisher_batch_size", fisher_batch_size, minimum=1)
        self.fisher: FisherKind = fisher
        self.fisher_samples = fisher_samples
        self.fisher_estimate: FisherEstimator = fisher_estimate
        self.fisher_batch_size = fisher_batch_size
        self.factor = 0.5 if penalty == "half" else 1.0
        self.decay: float | None = None

    def after_task(self, model: nn.Module, task: Task, context: TaskContext) -> None:
        view, data, prefix = _task_view(model, task, context)
        data = random_subset(*data, self.fisher_samples, context.generator)
        fisher = fisher_diagonal(
            view,
            data,
            kind=self.fisher,
            batch_size=self.fisher_batch_size,
            generator=context.generator,
            estimator=self.fisher_estimate,
        )
        self.consolidate(model, {n.removeprefix(prefix): f for n, f in fisher.items()}, self.decay)
        super().after_task(model, task, context)


@STRATEGIES.register("online_ewc")
class OnlineEWC(EWC):
    """Online EWC (Schwarz et al. 2018, "Progress & compress", Sec. 3.2).

    One running Fisher ``F ← γ·F + F_t`` and one anchor at the latest task's solution; penalty
    ``(λ/2) Σ_i F_i (θ_i − θ*_i)²``.
    """

    name = "online_ewc"

    def __init__(
        self,
        strength: float = 1000.0,
        *,
        gamma: float = 1.0,
        fisher: FisherKind = "empirical",
        fisher_samples: int | None = 1000,
        fisher_estimate: FisherEstimator = "per_example",
        fisher_batch_size: int = 64,
        penalty: PenaltyForm = "half",
    ) -> None:
        super().__init__(
            strength,
            fisher=fisher,
            fisher_samples=fisher_samples,
            fisher_estimate=fisher_estimate,
            fisher_batch_size=fisher_batch_size,
            penalty=penalty,
        )
        check_probability("gamma", gamma)
        self.decay = gamma


@STRATEGIES.register("ewc_kfac")
class EWCKFAC(QuadraticStrategy):
    """EWC with a Kronecker-factored Fisher: online structured Laplace (Ritter, Botev & Barber
    2018, NeurIPS, Sec. 3).

    After each task the Fisher at θ* is approximated per ``Linear``/``Conv2d`` layer by
    ``A ⊗ G`` (:func:`~axionlab.landscape.operators.kfac_factors`, KFAC-expand, per example,
    mean over at most ``fisher_samples`` training examples; ``fisher`` names the labels as for
    :class:`EWC`: ``"empirical"`` the true ones, ``"sampled"`` one drawn from the model,
    ``"exact"`` the expectation over all classes, i.e. KFAC's type-2). For a ``Linear`` weight
    ``W (out, in)`` the gradient of one example's loss is ``g aᵀ`` (a convolution's, its weight as
    ``(out, in·k_h·k_w)``, sums such terms over output positions), so with column-stacking
    ``vec(∇_W ℓ) = a ⊗ g`` and ``F_W ≈ A ⊗ G``; since
    ``(A ⊗ G) vec(Δ) = vec(G Δ A)`` for symmetric ``A``, ``G``:

        vec(Δ)ᵀ (A ⊗ G) vec(Δ) = tr(Δᵀ G Δ A) = tr(Δ A Δᵀ G),   Δ = W − W*,

    and a bias ``b`` (its own block, input 1) adds ``δᵀ G δ``. Online accumulation as Ritter et
    al.'s recursion: the Laplace posterior after task ``T`` has its mean at the latest solution
    θ*_T and precision ``Σ_{t≤T} F_t`` (the prior precision of each step is the previous
    posterior's), so the penalty is

        (λ/2) Σ_{t≤T} Σ_l [ tr(Δ_lᵀ G_{t,l} Δ_l A_{t,l}) + δ_lᵀ G_{t,l} δ_l ],   Δ = θ − θ*_T.

    A sum of Kronecker products is not one, so every task's factors are kept (memory grows by
    ``Σ_l in_l² + out_l²`` per task). Parameters outside those layers (normalisation layers,
    embeddings) are not penalised (KFAC's zero block); a growing head's new rows are free. λ has
    EWC's per-example meaning (no factor ``N`` for the dataset size as in Ritter et al.), but the
    quadratic form is not EWC's: off-diagonal terms count, and on the continual tests' blob MLP
    after one task the largest curvature it adds is 5× EWC's at the same λ (97.8 vs 19.0 at
    λ = 100), so tune λ for it; :meth:`max_curvature` feeds the same SGD stability check
    (:mod:`axionlab.continual.stability`). Classifiers only (``(B, C)`` logits): per-token
    targets are refused.
    """

    name = "ewc_kfac"
    factor = 0.5
    KFAC_FISHER: ClassVar[dict[str, KfacFisher]] = {
        "exact": "type-2",
        "empirical": "empirical",
        "sampled": "mc",
    }

    def __init__(
        self,
        strength: float = 1000.0,
        *,
        fisher: FisherKind = "empirical",
        fisher_samples: int | None = 1000,
        fisher_batch_size: int = 64,
    ) -> None:
        super().__init__(strength)
        check_choice("fisher", fisher, FISHER_KINDS)
        check_count("fisher_batch_size", fisher_batch_size, minimum=1)
        self.fisher: FisherKind = fisher
        self.fisher_samples = fisher_samples
        self.fisher_batch_size = fisher_batch_size
        self.factors: list[KroneckerFactor] = []  # every task's layers
        self.anchor: Params = {}

    def after_task(self, model: nn.Module, task: Task, context: TaskContext) -> None:
        view, data, prefix = _task_view(model, task, context)
        data = random_subset(*data, self.fisher_samples, context.generator)
        kfac = kfac_factors(
            view,
            F.cross_entropy,
            data,
            fisher=self.KFAC_FISHER[self.fisher],
            batch_size=self.fisher_batch_size,
            generator=context.generator,
        )
        for f in kfac.factors:
            weight = f.weight.removeprefix(prefix) if f.weight else None
            bias = f.bias.removeprefix(prefix) if f.bias else None
            self.factors.append(replace(f, weight=weight, bias=bias))
        self.anchor = _snapshot(model)
        super().after_task(model, task, context)

    def penalty(self, model: nn.Module) -> Tensor | None:
        if not self.factors:
            return None
        params = _trainable(model)
        delta = {n: _leading(params[n], a.shape) - a for n, a in self.anchor.items()}
        total = torch.zeros((), device=next(iter(params.values())).device)
        for f in self.factors:
            rows = f.gradient_covariance.shape[0]  # an older, smaller head: its leading rows
            own = {n: delta[n][:rows] for n in (f.weight, f.bias) if n is not None}
            total = total + sum((p * own[n]).sum() for n, p in f.apply(own).items())
        return self.factor * self.strength * total

    def max_curvature(self) -> float:
        """``λ`` times a bound on the largest eigenvalue of ``Σ_t A_t ⊗ G_t`` over blocks.

        ``λ_max(A ⊗ G) = λ_max(A) λ_max(G)``, and the sum over tasks is bounded by the sum of
        the maxima: exact after one task, an upper bound (a stricter check) after several.
        """
        blocks: dict[str, float] = {}
        for f in self.factors:
            top_g = float(torch.linalg.eigvalsh(f.gradient_covariance.double())[-1])
            if f.weight is not None and f.input_covariance is not None:
                top_a = float(torch.linalg.eigvalsh(f.input_covariance.double())[-1])
                blocks[f.weight] = blocks.get(f.weight, 0.0) + top_a * top_g
            if f.bias is not None:
                blocks[f.bias] = blocks.get(f.bias, 0.0) + top_g
        return 2.0 * self.factor * self.strength * max(blocks.values(), default=0.0)


@STRATEGIES.register("si")
class SynapticIntelligence(QuadraticStrategy):
    """Synaptic intelligence (Zenke, Poole & Ganguli 2017, ICML, Eqs. 3–5).

    During a task ``ω_i += −g_i · Δθ_i`` after every optimizer step, with ``g`` the gradient that
    step applied (of the total loss, as in van de Ven & Tolias 2019; Zenke et al. use the task loss
    alone) and ``Δθ`` the step's actual change. At the end ``Ω ← Ω + ω / (Δ_i² + ξ)`` with ``Δ`` the
    change over the whole task, and the penalty is ``c · Σ_i Ω_i (θ_i − θ*_i)²``.
    """

    name = "si"

    def __init__(self, strength: float = 1.0, *, damping: float = 0.1) -> None:
        super().__init__(strength)
        check_positive("damping", damping)
        self.damping = damping
        self.omega: Params = {}
        self._start: Params = {}
        self._previous: Params = {}

    def before_task(self, model: nn.Module, task: Task, context: TaskContext) -> None:
        self._start = _snapshot(model)
        self._previous = _snapshot(model)
        self.omega = {n: torch.zeros_like(p) for n, p in self._start.items()}

    def on_step(self, model: nn.Module, step: int) -> None:
        with torch.no_grad():
            for name, p in _trainable(model).items():
                if p.grad is not None:
                    self.omega[name] -= p.grad * (p - self._previous[name])
                self._previous[name].copy_(p)

    def after_task(self, model: nn.Module, task: Task, context: TaskContext) -> None:
        if not self.omega:
            raise InputError(
                "si can only consolidate a task it watched being trained; learn it "
                "with train_task(...)"
            )
        params = _trainable(model)
        importance = {
            n: w / ((params[n].detach() - self._start[n]).square() + self.damping)
            for n, w in self.omega.items()
        }
        self.consolidate(model, importance, decay=1.0)
        super().after_task(model, task, context)


@STRATEGIES.register("mas")
class MemoryAwareSynapses(QuadraticStrategy):
    """Memory aware synapses (Aljundi et al. 2018, ECCV, Eqs. 2–4).

    ``Ω_i ← Ω_i + (1/N) Σ_n |∂‖f(x_n)‖²₂ / ∂θ_i|`` with ``f`` the logits (of the task's own output
    units under task-IL), per example, in eval mode, on at most ``samples`` training examples;
    penalty ``λ · Σ_i Ω_i (θ_i − θ*_i)²``. For a sequence output ``(T, V)`` the example is the
    sequence and ``‖f(x)‖²`` is the mean over its positions of each position's squared norm.
    """

    name = "mas"

    def __init__(
        self, strength: float = 1.0, *, samples: int | None = 1000, batch_size: int = 64
    ) -> None:
        super().__init__(strength)
        self.samples = samples
        self.batch_size = batch_size

    def after_task(self, model: nn.Module, task: Task, context: TaskContext) -> None:
        view, data, prefix = _task_view(model, task, context)
        x, _ = random_subset(*data, self.samples, context.generator)
        importance = _output_sensitivity(view, x, self.batch_size)
        self.consolidate(model, {n.removeprefix(prefix): w for n, w in importance.items()}, 1.0)
        super().after_task(model, task, context)


def _output_sensitivity(model: nn.Module, x: Tensor, batch_size: int) -> Params:
    """Mean over examples of ``|∂‖f(x)‖²/∂θ|``, per example via ``vmap(grad)``, in eval mode."""
    params = {n: p.detach() for n, p in _trainable(model).items()}
    buffers = dict(model.named_buffers())

    def squared_norm(p: Params, xi: Tensor) -> Tensor:
        out: Tensor = functional_call(model, (p, buffers), (xi.unsqueeze(0),))
        if out.dim() > 2:  # a sequence (1, T, V): mean over positions of the squared norms
            return out.square().sum(-1).mean()
        return out.square().sum()

    per_example = vmap(grad(squared_norm), in_dims=(None, 0))
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    device = next(iter(params.values())).device
    was_training = model.training
    model.eval()
    try:
        for start in range(0, x.shape[0], batch_size):
            grads = per_example(params, x[start : start + batch_size].to(device))
            for n, g in grads.items():
                total[n] += g.abs().sum(0)
    finally:
        model.train(was_training)
    return {n: t / x.shape[0] for n, t in total.items()}


@STRATEGIES.register("l2")
class L2(QuadraticStrategy):
    """Isotropic pull to the previous task's solution: ``(λ/2) Σ_i (θ_i − θ*_i)²``.

    The baseline of Kirkpatrick et al. 2017 (Fig. 2A) with ``Ω = 1``.
    """

    name = "l2"
    factor = 0.5

    def __init__(self, strength: float = 1.0) -> None:
        super().__init__(strength)

    def after_task(self, model: nn.Module, task: Task, context: TaskContext) -> None:
        ones = {n: torch.ones_like(p) for n, p in _trainable(model).items()}
        self.consolidate(model, ones, decay=0.0)
        super().after_task(model, task, context)


@STRATEGIES.register("lwf")
class LearningWithoutForgetting(Strategy):
    """Learning without forgetting (Li & Hoiem 2017, TPAMI, Eq. 2).

    A frozen copy of the model from the end of the previous task is the teacher. On every
    mini-batch the loss gains ``α · Σ_groups −Σ_k p^T_k log q^T_k`` (mean over the batch), with
    ``p^T`` and ``q^T`` the softmaxes at temperature ``T`` of the teacher's and the model's logits
    on the old output units. Under task-IL each old task is its own group (its own head); otherwise
    all old units form one group. For sequence logits ``(B, T, V)`` (language models) the term is
    the same distillation at every position over the whole vocabulary, averaged over the
    ``B·T`` positions.
    """

    name = "lwf"

    def __init__(self, alpha: float = 1.0, *, temperature: float = 2.0) -> None:
        super().__init__()
        if alpha < 0 or temperature <= 0:
            raise InputError(f"need alpha >= 0 and temperature > 0, got {alpha}, {temperature}")
        self.alpha = alpha
        self.temperature = temperature
        self.teacher: nn.Module | None = None
        self._old_groups: list[tuple[int, ...]] = []
        self._groups: list[Tensor] = []

    def before_task(self, model: nn.Module, task: Task, context: TaskContext) -> None:
        if not self._old_groups:
            return
        if context.class_groups is not None:
            groups = self._old_groups
        else:
            groups = [tuple(sorted({c for g in self._old_groups for c in g}))]
        self._groups = [torch.tensor(g) for g in groups]

    def batch_penalty(self, x: Tensor, logits: Tensor) -> Tensor | None:
        if self.teacher is None:
            return None
        with torch.no_grad():
            old = self.teacher(x)
        if logits.dim() > 2:
            target = F.softmax(old / self.temperature, dim=-1)
            log_q = F.log_softmax(logits / self.temperature, dim=-1)
            return self.alpha * -(target * log_q).sum(-1).mean()
        total = torch.zeros((), device=logits.device)
        for group in self._groups:
            target = F.softmax(old[:, group] / self.temperature, dim=1)
            log_q = F.log_softmax(logits[:, group] / self.temperature, dim=1)
            total = total - (target * log_q).sum(1).mean()
        return self.alpha * total

    def after_task(self, model: nn.Module, task: Task, context: TaskContext) -> None:
        self.teacher = copy.deepcopy(model).eval()
        self.teacher.requires_grad_(False)
        self._old_groups.append(tuple(task.classes))
        super().after_task(model, task, context)


@STRATEGIES.register("replay")
class Replay(Strategy):
    """Experience replay: train on the task's data joined with a reservoir of past examples.

    The buffer (:class:`~axionlab.continual.buffer.ReservoirBuffer`, ``memory`` examples) is a
    uniform sample of every training example seen in earlier tasks ("naive rehearsal", Hsu et al.
    2018; Chaudhry et al. 2019, "On tiny episodic memories"). With ``balance`` the buffer is
    repeated ``round(N_task / memory)`` times, so old and new examples weigh about equally, as
    when every mini-batch is paired with an equal-size memory batch (Chaudhry et al. 2019).
    Per-token targets ``(N, T)`` (language models) are kept with their sequence: the example is
    the sequence.
    """

    name = "replay"

    def __init__(self, memory: int = 200, *, balance: bool = False) -> None:
        super().__init__()
        self.buffer = ReservoirBuffer(memory)
        self.balance = balance

    def train_data(self, task: Task) -> Data:
        if len(self.buffer) == 0:
            return task.train
        bx, by = self.buffer.data()
        copies = max(1, round(len(task.train[1]) / len(by))) if self.balance else 1
        return (
            torch.cat([task.train[0], bx.repeat(copies, *([1] * (bx.dim() - 1)))]),
            torch.cat([task.train[1], by.repeat(copies, *([1] * (by.dim() - 1)))]),
        )

    def after_task(self, model: nn.Module, task: Task, context: TaskContext) -> None:
        self.buffer.add(*task.train, generator=context.generator)
        super().after_task(model, task, context)


@STRATEGIES.register("joint")
class Joint(Strategy):
    """Cumulative training on every task's data seen so far: the usual upper bound."""

    name = "joint"

    def __init__(self) -> None:
        super().__init__()
        self._seen: list[Data] = []

    def train_data(self, task: Task) -> Data:
        xs, ys = zip(*self._seen, task.train, strict=True)
        return torch.cat(xs), torch.cat(ys)

    def after_task(self, model: nn.Module, task: Task, context: TaskContext) -> None:
        self._seen.append(task.train)
        super().after_task(model, task, context)
