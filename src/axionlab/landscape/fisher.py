"""Diagonal Fisher information of a classifier, computed per example.

Definition (categorical likelihood p(c|x) = softmax(f_θ(x))_c, N examples):

    F_i = (1/N) Σ_n E_{c ~ q_n} [ (∂ log p(c|x_n) / ∂θ_i)² ]

with q_n the model's predictive distribution (``"exact"``, summed over all classes), a point mass
on the true label (``"empirical"``), or one label drawn from p(·|x_n) (``"sampled"``, a Monte-Carlo
estimate of ``"exact"``). Gradients are *per example* (``torch.func.vmap`` of ``torch.func.grad``),
so the result does not depend on the batch size. Squaring the gradient of a mini-batch *mean* loss
instead gives a quantity 50–170× smaller at batch 32–128 (the cross terms average out), which is
why EWC penalty strengths λ from such code do not transfer. That estimator (Avalanche's
``EWCPlugin``) is available as ``estimator="batch_mean"``, for comparison with such code:

    F_i^bm = (1/K) Σ_k ( ∂ [ (1/|B_k|) Σ_{n∈B_k} −log p(y_n|x_n) ] / ∂θ_i )²

over the K chunks B_k of ``batch_size`` examples, which depends on ``batch_size``.

Sequence outputs (language models: logits ``(B, T, V)``, targets ``(B, T)`` aligned with them, -100
not counted, as :func:`axionlab.data.text.next_token_pairs` gives them): the example is the
*sequence*, its loss ``ℓ_n`` the mean token cross-entropy over its counted positions, so
``"empirical"`` is ``F_i = (1/N) Σ_n (∂ℓ_n/∂θ_i)²`` (as
:func:`~axionlab.landscape.hf.sequence_fisher_diagonal`) and ``"sampled"`` draws every counted
target ``y_t ~ p(·|x_{≤t})`` (teacher forcing) before taking the same gradient; ``"batch_mean"``
squares the gradient of the mean of ``ℓ_n`` over a chunk. ``"exact"`` would take ``V·T`` backward
passes per sequence and is refused for sequence targets (``"sampled"`` is its Monte-Carlo
estimate: with independent positions the cross terms have zero mean).
References: Kirkpatrick et al. 2017
(EWC, PNAS); Kunstner, Balles & Hennig 2019, "Limitations of the empirical Fisher approximation".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import grad, jacrev, vmap

from axionlab.checks import check_choice
from axionlab.errors import InputError
from axionlab.landscape._common import (
    Data,
    Params,
    eval_semantics,
    forward,
    iter_batches,
    model_device,
    split_parameters,
)

FisherKind = Literal["exact", "empirical", "sampled"]
FisherEstimator = Literal["per_example", "batch_mean"]
FISHER_KINDS: tuple[FisherKind, ...] = get_args(FisherKind)
FISHER_ESTIMATORS: tuple[FisherEstimator, ...] = get_args(FisherEstimator)


def fisher_diagonal(
    model: nn.Module,
    data: Data,
    *,
    kind: FisherKind = "empirical",
    batch_size: int = 64,
    max_examples: int | None = None,
    generator: torch.Generator | None = None,
    estimator: FisherEstimator = "per_example",
) -> dict[str, Tensor]:
    """Per-example diagonal Fisher of a logits-returning classifier, averaged over examples.

    Parameters
    ----------
    model
        Classifier mapping a batch of inputs to logits ``(B, C)``, or a sequence model mapping
        them to ``(B, T, V)`` for targets ``(B, T)`` (module docstring); evaluated functionally in
        eval semantics (BatchNorm running statistics, no dropout) and never mutated.
    data
        An ``(x, y)`` tensor pair or an iterable of ``(x, y)`` batches (e.g. a ``DataLoader``);
        ``y`` one label per example ``(B,)`` or one target per position ``(B, T)``.
    kind
        ``"exact"`` (expectation over the model's predictive distribution), ``"empirical"`` (true
        labels) or ``"sampled"`` (one label per example drawn from the model).
    batch_size
        Examples per vectorised chunk; with ``estimator="per_example"`` it affects memory and
        speed only, never the result; with ``"batch_mean"`` it is the estimator's batch size.
    max_examples
        Use at most this many examples (in data order); ``None`` uses all.
    generator
        Random stream for ``"sampled"`` labels; ``None`` means a fresh stream seeded with 0.
    estimator
        ``"per_example"`` (the definition above) or ``"batch_mean"`` (squared gradients of the
        mean loss over each chunk, averaged over chunks; ``"empirical"`` or ``"sampled"`` only).

    Returns
    -------
    dict[str, Tensor]
        ``F_i`` keyed like ``named_parameters()`` (only parameters with ``requires_grad``),
        detached, on the model's device.

    Raises
    ------
    InputError
        For an unknown ``kind`` or ``estimator``, ``"exact"`` with ``"batch_mean"`` or with
        sequence targets, a non-positive ``batch_size``/``max_examples`` or empty data.
    """
    check_choice("kind", kind, FISHER_KINDS)
    check_choice("estimator", estimator, FISHER_ESTIMATORS)
    if kind == "exact" and estimator == "batch_mean":
        raise InputError(
            "estimator='batch_mean' squares the gradient of a mean loss over labels, so it "
            "needs kind='empirical' or 'sampled', got kind='exact'"
        )
    params, constants = split_parameters(model)
    device = model_device(model)
    if kind == "sampled" and generator is None:
        generator = torch.Generator().manual_seed(0)

    def log_probs(p: Params, x: Tensor) -> Tensor:
        return F.log_softmax(forward(model, p, constants, x.unsqueeze(0)), dim=-1).squeeze(0)

    def nll(p: Params, x: Tensor, y: Tensor) -> Tensor:
        return -log_probs(p, x).gather(0, y.reshape(1)).squeeze(0)

    def exact_term(p: Params, x: Tensor) -> dict[str, Tensor]:
        def with_aux(q: Params) -> tuple[Tensor, Tensor]:
            out = log_probs(q, x)
            return out, out.detach()

        jac, logp = jacrev(with_aux, has_aux=True)(p)  # each (C, *shape)
        prob = logp.exp()
        return {n: torch.tensordot(prob, j.square(), dims=1) for n, j in jac.items()}

    def mean_nll(p: Params, x: Tensor, y: Tensor) -> Tensor:
        logp = F.log_softmax(forward(model, p, constants, x), dim=-1)
        return -logp.gather(1, y.unsqueeze(1)).mean()

    def sequence_nll(p: Params, x: Tensor, y: Tensor) -> Tensor:
        # mean token cross-entropy of one sequence over its counted positions (0 if none)
        return _sequence_losses(forward(model, p, constants, x.unsqueeze(0)), y.unsqueeze(0))[0]

    def mean_sequence_nll(p: Params, x: Tensor, y: Tensor) -> Tensor:
        return _sequence_losses(forward(model, p, constants, x), y).mean()

    per_example_grad = vmap(grad(nll), in_dims=(None, 0, 0))
    per_example_exact = vmap(exact_term, in_dims=(None, 0))
    per_sequence_grad = vmap(grad(sequence_nll), in_dims=(None, 0, 0))

    total = {n: torch.zeros_like(p) for n, p in params.items()}
    count = 0
    with eval_semantics(model):
        for xb, yb in iter_batches(data, batch_size, max_examples):
            xb, yb = xb.to(device), yb.to(device)
            if yb.dim() == 2:
                if kind == "exact":
                    raise InputError(
                        "kind='exact' on per-token targets would take V·T backward passes per "
                        "sequence; use kind='sampled' (its Monte-Carlo estimate) or 'empirical'"
                    )
                if kind == "sampled":
                    yb = _sample_targets(model, params, constants, xb, yb, generator)
                if estimator == "batch_mean":
                    for n, g in grad(mean_sequence_nll)(params, xb, yb).items():
                        total[n] += g.square()
                    count += 1
                    continue
                for n, g in per_sequence_grad(params, xb, yb).items():
                    total[n] += g.square().sum(0)
                count += xb.shape[0]
                continue
            if kind == "sampled":
                yb = _sample_labels(model, params, constants, xb, generator)
            if estimator == "batch_mean":
                for n, g in grad(mean_nll)(params, xb, yb).items():
                    total[n] += g.square()
                count += 1
                continue
            if kind == "exact":
                terms = per_example_exact(params, xb)
            else:
                terms = {n: g.square() for n, g in per_example_grad(params, xb, yb).items()}
            for n, t in terms.items():
                total[n] += t.sum(0)
            count += xb.shape[0]
    if count == 0:
        raise InputError("data is empty; pass at least one (x, y) example")
    return {n: t / count for n, t in total.items()}


def _sample_labels(
    model: nn.Module,
    params: Params,
    constants: Params,
    x: Tensor,
    generator: torch.Generator | None,
) -> Tensor:
    with torch.no_grad():
        probs = F.softmax(forward(model, params, constants, x).float(), dim=-1)
    gen_device = generator.device if generator is not None else torch.device("cpu")
    labels = torch.multinomial(probs.to(gen_device), 1, generator=generator).squeeze(1)
    return labels.to(x.device)


IGNORE_INDEX = -100
"""A sequence target that is not counted (HuggingFace's convention)."""


def sequence_loss(logits: Tensor, y: Tensor) -> Tensor:
    """Mean over sequences of each sequence's mean token cross-entropy (the Fisher's ``ℓ_n``)."""
    return _sequence_losses(logits, y).mean()


def _sequence_losses(logits: Tensor, y: Tensor) -> Tensor:
    """Per-sequence mean token cross-entropy ``(B,)`` of logits ``(B, T, V)`` against ``(B, T)``.

    Positions with target -100 are not counted; a sequence with none counted has loss 0.
    """
    if logits.dim() != 3 or logits.shape[:2] != y.shape:
        raise InputError(
            f"per-token targets {tuple(y.shape)} need logits (B, T, V) with the same (B, T), "
            f"got {tuple(logits.shape)}"
        )
    valid = y != IGNORE_INDEX
    logp = F.log_softmax(logits.float(), dim=-1)
    nll = -logp.gather(2, y.clamp_min(0).unsqueeze(2)).squeeze(2)
    return torch.where(valid, nll, 0.0).sum(1) / valid.sum(1).clamp_min(1)


def _sample_targets(
    model: nn.Module,
    params: Params,
    constants: Params,
    x: Tensor,
    y: Tensor,
    generator: torch.Generator | None,
) -> Tensor:
    """One target per counted position drawn from the model (teacher forcing); -100 kept."""
    with torch.no_grad():
        logits = forward(model, params, constants, x).float()
        probs = F.softmax(logits, dim=-1).reshape(-1, logits.shape[-1])
    gen_device = generator.device if generator is not None else torch.device("cpu")
    drawn = torch.multinomial(probs.to(gen_device), 1, generator=generator).reshape(y.shape)
    return torch.where(y == IGNORE_INDEX, y, drawn.to(y.device))


def fisher_trace(fisher: Mapping[str, Tensor]) -> float:
    """Trace of a diagonal Fisher: the sum of all its entries (nats², per example).

    Raises
    ------
    InputError
        If ``fisher`` is empty.
    """
    if not fisher:
        raise InputError("fisher is empty; pass the dict returned by fisher_diagonal")
    return float(sum(float(t.double().sum()) for t in fisher.values()))
