"""Curvature of the loss as SciPy linear operators, and the XTrace trace estimator.

:func:`curvature_operator` returns a :class:`scipy.sparse.linalg.LinearOperator` of shape
``(P, P)`` and dtype float64 (``matvec``, ``matmat``, ``@``), so that SciPy's ``eigsh``, ``cg`` or
``expm_multiply`` run on our curvature. Coordinates are the flat concatenation, in
``named_parameters()`` order, of every parameter with ``requires_grad`` (each flattened in PyTorch's
row-major order), as :func:`~axionlab.landscape._common.flatten` writes them; frozen parameters
and buffers are constants. The model is evaluated functionally in eval semantics (BatchNorm running
statistics, no dropout) and never modified. Data are loaded once and cut into fixed chunks of
``batch_size`` examples (memory only: no kind depends on it). With ``N`` examples, loss
``L(θ) = (1/N) Σ_n ℓ_n(θ)``, ``ℓ_n = loss_fn(f_θ(x_n), y_n)`` (the loss of one example; of one
sequence for a language model, as in :mod:`axionlab.landscape.fisher`), outputs ``f_n = f_θ(x_n)``
and ``J_n = ∂f_n/∂θ``. On per-token targets with ignored (-100) positions, ``hessian`` and
``ggn`` are those of the loss training minimises, the token mean over all counted positions (each
chunk weighted by its counted tokens), while the Fisher kinds stay per sequence (the EWC
convention); without ignored positions the two coincide. The operator holds a copy of the weights
at construction, so training the model afterwards does not move it:

==================== =======================================================================
kind                 matrix
==================== =======================================================================
``hessian``          ``∇²L`` (products by :class:`~axionlab.landscape.hessian.HessianOperator`)
``ggn``              ``(1/N) Σ_n J_nᵀ (∇²_f ℓ_n) J_n`` (generalised Gauss-Newton, Schraudolph 2002)
``fisher_empirical`` ``(1/N) Σ_n g_n g_nᵀ``, ``g_n = ∇_θ ℓ_n`` (our EWC convention)
``fisher_mc``        ``(1/(N S)) Σ_n Σ_s g_n(ŷ_ns) g_n(ŷ_ns)ᵀ``, ``ŷ_ns ~ softmax(f_n)``
``kfac``             per layer ``A ⊗ G`` (Martens & Grosse 2015; below)
==================== =======================================================================

GGN and Fisher products are ``Jᵀ(M(J v))`` by one forward-mode ``jvp`` and one ``vjp`` per chunk
(``torch.func``); no Jacobian is formed. ``fisher_mc`` and ``kfac`` assume a classifier (logits
``(B, C)``, labels ``(B,)``) whose ``loss_fn`` is the categorical negative log-likelihood (mean
cross-entropy). Their ``S = mc_samples`` labels per example are drawn once, at construction, from
``generator`` (per chunk, ``S`` draws with replacement, as curvlinops draws them), so the operator
is one fixed matrix. For cross-entropy ``ggn`` is the exact Fisher and the mean of ``fisher_mc``.

KFAC (KFAC-expand of Eschenhagen et al. 2023, curvlinops' default layout). For a ``Linear`` of
weight ``W (out, in)`` with inputs ``a`` and output gradients ``g = ∂ℓ_n/∂(W a + b)``, and a
``Conv2d`` (Grosse & Martens 2016) whose inputs are the unfolded patches (``in = C_in·k_h·k_w``)
at its ``T`` output positions (a ``Linear`` on ``(B, T, in)`` inputs: the same, ``T`` positions)::

    A = (1/(N T)) Σ_n Σ_t a_nt a_ntᵀ          G = (1/N) Σ_n Σ_t Σ_c g_ntc g_ntcᵀ

with the ``c`` sum over backpropagated output vectors: the columns of a square root of
``∇²_f ℓ_n`` (``kfac_fisher="type-2"``, the default: KFAC of the GGN, deterministic), one sampled
label's gradient each, weighted ``1/S`` (``"mc"``) or the true label's (``"empirical"``). The weight
block is ``A ⊗ G`` on the column-stacked ``vec(W)``, i.e. ``V ↦ G V A`` on a matrix-shaped
``V (out, in)``; a bias is its own block ``G`` (curvlinops' ``separate_weight_and_bias=True``).
Parameters outside a supported layer (``Linear``; ``Conv2d`` with ``groups=1``, numeric padding and
zero padding mode), e.g. normalisation layers and embeddings, get a **zero block**; their names are
:attr:`KFACOperator.uncovered`. A layer called twice in one forward pass is refused.

:func:`xtrace` estimates the trace of any square operator (Epperly, Tropp & Webber 2024).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, cast, get_args

import numpy as np
import torch
import torch.nn.functional as F
from scipy.sparse.linalg import LinearOperator, aslinearoperator
from torch import Tensor, nn
from torch.func import grad, hessian, jvp, vjp, vmap

from axionlab.checks import check_choice, check_count
from axionlab.errors import InputError
from axionlab.landscape._common import (
    Data,
    LossFn,
    Params,
    eval_semantics,
    flatten,
    forward,
    split_parameters,
    unflatten,
)
from axionlab.landscape.hessian import HessianOperator, TraceEstimate

CurvatureKind = Literal["hessian", "ggn", "fisher_empirical", "fisher_mc", "kfac"]
CURVATURE_KINDS: tuple[CurvatureKind, ...] = get_args(CurvatureKind)
KfacFisher = Literal["type-2", "mc", "empirical"]
KFAC_FISHERS: tuple[KfacFisher, ...] = get_args(KfacFisher)


class CurvatureOperator(LinearOperator):  # type: ignore[misc]
    """A symmetric ``(P, P)`` float64 SciPy operator over the flat trainable parameters.

    Attributes
    ----------
    kind
        The curvature it multiplies with (module docstring).
    params
        The trainable parameters it is evaluated at (detached), in coordinate order.
    n_matvec
        Products computed so far (a ``matmat`` with ``k`` columns counts ``k``).
    """

    def __init__(self, kind: CurvatureKind, params: Params) -> None:
        dim = sum(p.numel() for p in params.values())
        super().__init__(dtype=np.dtype(np.float64), shape=(dim, dim))
        self.kind = kind
        self.params = params
        self.n_matvec = 0

    def apply(self, vectors: Sequence[Params]) -> list[Params]:
        """The products with parameter-shaped ``vectors`` (the native interface)."""
        raise NotImplementedError

    def _matmat(self, x: np.ndarray) -> np.ndarray:
        columns = np.asarray(x, dtype=np.float64).reshape(self.shape[1], -1)
        vectors = [
            unflatten(torch.from_numpy(np.ascontiguousarray(columns[:, i])), self.params)
            for i in range(columns.shape[1])
        ]
        self.n_matvec += len(vectors)
        products = self.apply(vectors)
        return np.stack([flatten(p).numpy() for p in products], axis=1)

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        result: np.ndarray = self._matmat(x)[:, 0]
        return result

    def _rmatvec(self, x: np.ndarray) -> np.ndarray:
        return self._matvec(x)

    def _rmatmat(self, x: np.ndarray) -> np.ndarray:
        return self._matmat(x)

    def _adjoint(self) -> CurvatureOperator:
        return self


class _Hessian(CurvatureOperator):
    def __init__(self, base: HessianOperator) -> None:
        super().__init__("hessian", base.params)
        self.base = base

    def apply(self, vectors: Sequence[Params]) -> list[Params]:
        return self.base.matmat(vectors)


Chunk = tuple[Tensor, Tensor, float]  # (x, y, scale of its middle factor)


class _OuterProduct(CurvatureOperator):
    """``Σ_chunks Jᵀ M J`` with ``J`` the Jacobian of ``inner(θ, x, y)`` and ``M`` per chunk."""

    def __init__(
        self,
        kind: CurvatureKind,
        base: HessianOperator,
        chunks: list[Chunk],
        inner: Callable[[Params, Tensor, Tensor], Tensor],
        middle: Callable[[Tensor, Tensor, Tensor, float], Tensor],
    ) -> None:
        super().__init__(kind, base.params)
        self.model = base.model
        self.chunks = chunks
        self.inner = inner
        self.middle = middle

    def apply(self, vectors: Sequence[Params]) -> list[Params]:
        out = [{k: torch.zeros_like(p) for k, p in self.params.items()} for _ in vectors]
        with eval_semantics(self.model):
            for x, y, scale in self.chunks:

                def f(p: Params, x: Tensor = x, y: Tensor = y) -> Tensor:
                    return self.inner(p, x, y)

                primal = vjp(f, self.params)
                value, pullback = primal[0].detach(), primal[1]
                for i, v in enumerate(vectors):
                    tangent = jvp(f, (self.params,), (dict(v),))[1]
                    (product,) = pullback(self.middle(value, y, tangent, scale))
                    for k, t in product.items():
                        out[i][k] += t
        return out


def _per_example(loss_fn: LossFn) -> Callable[[Tensor, Tensor], Tensor]:
    """``ℓ(f, y)`` of one example: ``loss_fn`` on a batch of one (one sequence for an LM)."""

    def loss(out: Tensor, y: Tensor) -> Tensor:
        return loss_fn(out.unsqueeze(0), y.unsqueeze(0))

    return loss


def _check_classifier(out: Tensor, y: Tensor, kind: str) -> None:
    """Refuse anything but ``(B, C)`` logits with ``(B,)`` labels."""
    if out.dim() != 2 or y.dim() != 1:
        raise InputError(
            f"kind='{kind}' needs a classifier's (B, C) logits and (B,) labels, got outputs "
            f"{tuple(out.shape)} and targets {tuple(y.shape)}; use kind='ggn' or "
            "'fisher_empirical'"
        )


def _draw_labels(logits: Tensor, samples: int, generator: torch.Generator) -> list[Tensor]:
    """``samples`` label vectors ``(B,)`` drawn from ``softmax(logits)`` with replacement."""
    probs = logits.softmax(dim=1).to(generator.device)
    drawn = torch.multinomial(probs, samples, replacement=True, generator=generator)
    return list(drawn.to(logits.device).T)


def _ggn(base: HessianOperator, loss_fn: LossFn) -> CurvatureOperator:
    model, constants = base.model, base.constants
    chunks = [(x, y, w) for (x, y), w in zip(base.chunks, base.weights, strict=True)]

    def outputs(p: Params, x: Tensor, y: Tensor) -> Tensor:
        return forward(model, p, constants, x)

    def loss_hvp(out: Tensor, y: Tensor, u: Tensor, scale: float) -> Tensor:
        # ∇²_f of the chunk's weighted mean loss: the block-diagonal (1/N) Σ_n ∇²_f ℓ_n
        def loss(o: Tensor) -> Tensor:
            return loss_fn(o, y) * scale

        product: Tensor = jvp(grad(loss), (out,), (u,))[1]
        return product

    return _OuterProduct("ggn", base, chunks, outputs, loss_hvp)


def _fisher(
    base: HessianOperator, loss_fn: LossFn, kind: CurvatureKind, labels: list[list[Tensor]]
) -> CurvatureOperator:
    """``Σ_chunks Σ_labels Jᵀ J / (N · len(labels))`` with ``J`` the per-example loss Jacobian."""
    model, constants = base.model, base.constants
    per_example = vmap(_per_example(loss_fn))
    chunks = [
        (x, y, 1.0 / (base.n_examples * len(ys)))
        for (x, _), ys in zip(base.chunks, labels, strict=True)
        for y in ys
    ]

    def losses(p: Params, x: Tensor, y: Tensor) -> Tensor:  # (B,)
        return per_example(forward(model, p, constants, x), y)

    def scaled(out: Tensor, y: Tensor, u: Tensor, scale: float) -> Tensor:
        return u * scale

    return _OuterProduct(kind, base, chunks, losses, scaled)


@dataclass(frozen=True)
class KroneckerFactor:
    """One layer's KFAC block (module docstring).

    Attributes
    ----------
    module
        The layer's name in ``named_modules()``.
    weight, bias
        Its trainable parameters' names (``None`` when absent or frozen).
    input_covariance
        ``A (in, in)``; ``None`` when the weight is not trainable.
    gradient_covariance
        ``G (out, out)``.
    """

    module: str
    weight: str | None
    bias: str | None
    input_covariance: Tensor | None
    gradient_covariance: Tensor

    def apply(self, vector: Params) -> Params:
        """The block's product with the layer's entries of a parameter-shaped ``vector``."""
        g = self.gradient_covariance
        out = {}
        if self.weight is not None and self.input_covariance is not None:
            v = vector[self.weight]
            out[self.weight] = (g @ v.reshape(v.shape[0], -1) @ self.input_covariance).reshape(
                v.shape
            )
        if self.bias is not None:
            out[self.bias] = g @ vector[self.bias]
        return out


@dataclass(frozen=True)
class _Layer:
    module: str
    layer: nn.Linear | nn.Conv2d
    weight: str | None
    bias: str | None

    def zeros(self, size: int) -> Tensor:
        """A ``(size, size)`` factor sum on the layer's device, zero until accumulated."""
        w = self.layer.weight
        return torch.zeros(size, size, dtype=w.dtype, device=w.device)

    def input_rows(self, x: Tensor) -> tuple[Tensor, int]:
        """Inputs as ``(B·T, in)`` rows and the number ``T`` of positions per example."""
        if isinstance(self.layer, nn.Conv2d):
            c = self.layer
            padding = cast(tuple[int, ...], c.padding)  # string paddings are not covered
            patches = F.unfold(x, c.kernel_size, c.dilation, padding, c.stride)  # (B, in, T)
            return patches.transpose(1, 2).reshape(-1, patches.shape[1]), patches.shape[2]
        rows = x.reshape(-1, x.shape[-1])
        return rows, rows.shape[0] // x.shape[0]

    def gradient_rows(self, g: Tensor) -> Tensor:
        """Output gradients as ``(B·T, out)`` rows."""
        if isinstance(self.layer, nn.Conv2d):
            return g.flatten(2).transpose(1, 2).reshape(-1, g.shape[1])
        return g.reshape(-1, g.shape[-1])


def _kfac_layers(model: nn.Module, params: Params) -> tuple[list[_Layer], tuple[str, ...]]:
    """The supported layers holding trainable parameters, and the trainable names outside them."""
    layers: list[_Layer] = []
    covered: set[str] = set()
    seen: set[int] = set()
    for name, module in model.named_modules():
        if not isinstance(module, (nn.Linear, nn.Conv2d)):
            continue
        if isinstance(module, nn.Conv2d) and (
            module.groups != 1 or isinstance(module.padding, str) or module.padding_mode != "zeros"
        ):
            continue
        keys = {}
        for attr in ("weight", "bias"):
            tensor = getattr(module, attr)
            if tensor is None:
                continue
            if id(tensor) in seen:
                raise InputError(
                    f"kind='kfac': layer '{name}' shares its {attr} with another layer (tied "
                    "weights); KFAC-expand of shared weights is not supported"
                )
            seen.add(id(tensor))
            key = f"{name}.{attr}" if name else attr
            if key in params:
                keys[attr] = key
        if keys:
            layers.append(_Layer(name, module, keys.get("weight"), keys.get("bias")))
            covered.update(keys.values())
    return layers, tuple(k for k in params if k not in covered)


def _output_columns(
    loss_fn: LossFn,
    out: Tensor,
    y: Tensor,
    fisher: KfacFisher,
    mc_samples: int,
    generator: torch.Generator,
) -> tuple[list[Tensor], float]:
    """Per-example output vectors ``(B, C)`` to backpropagate, and each one's weight."""
    per_example = _per_example(loss_fn)
    if fisher == "type-2":
        # any R with R Rᵀ = ∇²_f ℓ_n gives the same Σ_c g_c g_cᵀ; eigh gives the symmetric one
        values, vectors = torch.linalg.eigh(vmap(hessian(per_example))(out, y))  # (B, C, C)
        roots = vectors * values.clamp_min(0).sqrt().unsqueeze(1)
        return [roots[:, :, c] for c in range(roots.shape[2])], 1.0
    labels = [y] if fisher == "empirical" else _draw_labels(out, mc_samples, generator)
    return [vmap(grad(per_example))(out, t) for t in labels], 1.0 / len(labels)


@dataclass(frozen=True)
class KFAC:
    """KFAC factors of every supported layer and the trainable parameters they leave out."""

    factors: tuple[KroneckerFactor, ...]
    uncovered: tuple[str, ...]
    fisher: KfacFisher
    n_examples: int


def kfac_factors(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    *,
    fisher: KfacFisher = "type-2",
    mc_samples: int = 1,
    batch_size: int | None = None,
    max_examples: int | None = None,
    generator: torch.Generator | None = None,
) -> KFAC:
    """The Kronecker factors ``A``, ``G`` of every ``Linear``/``Conv2d`` layer (module docstring).

    Parameters
    ----------
    model, loss_fn, data
        A classifier returning logits ``(B, C)``, its mean negative log-likelihood
        ``loss_fn(logits, labels)`` and ``(x, y)`` data; evaluated as :func:`curvature_operator`.
    fisher
        ``"type-2"`` (square roots of the output Hessians), ``"mc"`` (``mc_samples`` labels drawn
        from the model per example) or ``"empirical"`` (the true labels).
    mc_samples, batch_size, max_examples, generator
        As for :func:`curvature_operator`.

    Returns
    -------
    KFAC

    Raises
    ------
    InputError
        For an unknown ``fisher``, outputs other than ``(B, C)`` logits with ``(B,)`` labels, tied
        layers, a layer called twice per forward pass, or bad counts.
    """
    check_choice("fisher", fisher, KFAC_FISHERS)
    check_count("mc_samples", mc_samples, minimum=1)
    base = HessianOperator(model, loss_fn, data, batch_size=batch_size, max_examples=max_examples)
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    layers, uncovered = _kfac_layers(model, base.params)
    a_sum = {layer.module: layer.zeros(layer.layer.weight[0].numel()) for layer in layers}
    g_sum = {layer.module: layer.zeros(layer.layer.weight.shape[0]) for layer in layers}
    records: dict[str, tuple[Tensor, Tensor]] = {}

    def recorder(name: str) -> Callable[[nn.Module, tuple[Tensor, ...], Tensor], Tensor]:
        def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> Tensor:
            if name in records:
                raise InputError(
                    f"kind='kfac': layer '{name}' runs more than once per forward pass (shared "
                    "weights); KFAC-expand of repeated calls is not supported"
                )
            records[name] = (inputs[0].detach(), output)
            return output.clone()  # an in-place activation then leaves `output` intact

        return hook

    handles = [layer.layer.register_forward_hook(recorder(layer.module)) for layer in layers]
    leaves = {k: p.clone().requires_grad_(True) for k, p in base.params.items()}
    try:
        with eval_semantics(model), torch.enable_grad():
            for x, y in base.chunks:
                records.clear()
                out = forward(model, leaves, base.constants, x)
                _check_classifier(out, y, "kfac")
                present = [layer for layer in layers if layer.module in records]
                for layer in present:
                    rows, positions = layer.input_rows(records[layer.module][0])
                    a_sum[layer.module] += rows.T @ rows / positions
                columns, weight = _output_columns(
                    loss_fn, out.detach(), y, fisher, mc_samples, generator
                )
                for i, column in enumerate(columns):
                    grads = torch.autograd.grad(
                        out,
                        [records[layer.module][1] for layer in present],
                        grad_outputs=column,
                        retain_graph=i < len(columns) - 1,
                        allow_unused=True,
                    )
                    for layer, g in zip(present, grads, strict=True):
                        if g is not None:
                            rows = layer.gradient_rows(g)
                            g_sum[layer.module] += weight * rows.T @ rows
    finally:
        for handle in handles:
            handle.remove()
    n = base.n_examples
    factors = tuple(
        KroneckerFactor(
            module=layer.module,
            weight=layer.weight,
            bias=layer.bias,
            input_covariance=a_sum[layer.module] / n if layer.weight is not None else None,
            gradient_covariance=g_sum[layer.module] / n,
        )
        for layer in layers
    )
    return KFAC(factors=factors, uncovered=uncovered, fisher=fisher, n_examples=n)


class KFACOperator(CurvatureOperator):
    """Products with the block-diagonal KFAC matrix; zero on :attr:`uncovered` parameters."""

    def __init__(self, params: Params, kfac: KFAC) -> None:
        super().__init__("kfac", params)
        self.kfac = kfac
        self.uncovered = kfac.uncovered

    def apply(self, vectors: Sequence[Params]) -> list[Params]:
        out = []
        for v in vectors:
            product = {k: torch.zeros_like(p) for k, p in self.params.items()}
            for factor in self.kfac.factors:
                product.update(factor.apply(v))
            out.append(product)
        return out


def curvature_operator(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    kind: CurvatureKind = "hessian",
    *,
    batch_size: int | None = None,
    max_examples: int | None = None,
    generator: torch.Generator | None = None,
    mc_samples: int = 1,
    kfac_fisher: KfacFisher = "type-2",
) -> CurvatureOperator:
    """The loss curvature of ``kind`` at the model's parameters as a SciPy ``LinearOperator``.

    Parameters
    ----------
    model, loss_fn, data
        Model, ``loss_fn(outputs, targets) -> mean loss`` and an ``(x, y)`` pair or batches.
    kind
        ``"hessian"``, ``"ggn"``, ``"fisher_empirical"``, ``"fisher_mc"`` or ``"kfac"`` (module
        docstring for each definition).
    batch_size
        Examples per chunk (``None``: all at once); memory only.
    max_examples
        Use the first ``max_examples`` examples; ``None`` uses all of them.
    generator
        Random stream for the labels of ``fisher_mc`` and ``kfac_fisher="mc"`` (``None``: seeded
        with 0), drawn once here.
    mc_samples
        Labels drawn per example for ``fisher_mc`` and ``kfac_fisher="mc"``.
    kfac_fisher
        What KFAC's ``G`` factor approximates: ``"type-2"``, ``"mc"`` or ``"empirical"``.

    Returns
    -------
    CurvatureOperator
        A symmetric float64 ``(P, P)`` operator; ``kind="kfac"`` gives a :class:`KFACOperator`.

    Raises
    ------
    InputError
        For an unknown ``kind`` (with a suggestion) or ``kfac_fisher``, non-classifier outputs
        for ``fisher_mc``/``kfac``, bad counts or empty data.

    Examples
    --------
    >>> from scipy.sparse.linalg import eigsh
    >>> op = curvature_operator(model, F.cross_entropy, (x, y), "ggn")  # doctest: +SKIP
    >>> eigsh(op, k=1, which="LA", return_eigenvectors=False)  # doctest: +SKIP
    """
    check_choice("kind", kind, CURVATURE_KINDS)
    check_choice("kfac_fisher", kfac_fisher, KFAC_FISHERS)
    check_count("mc_samples", mc_samples, minimum=1)
    if kind == "kfac":
        kfac = kfac_factors(
            model,
            loss_fn,
            data,
            fisher=kfac_fisher,
            mc_samples=mc_samples,
            batch_size=batch_size,
            max_examples=max_examples,
            generator=generator,
        )
        return KFACOperator({k: v.clone() for k, v in split_parameters(model)[0].items()}, kfac)
    # HessianOperator also holds what every kind evaluates on: parameters, constants, chunks
    base = HessianOperator(model, loss_fn, data, batch_size=batch_size, max_examples=max_examples)
    # a snapshot: the operator stays at this θ (with its drawn labels) if the model trains on
    base.params = {k: v.clone() for k, v in base.params.items()}
    base.constants = {k: v.clone() for k, v in base.constants.items()}
    if kind == "hessian":
        return _Hessian(base)
    if kind == "ggn":
        return _ggn(base, loss_fn)
    if kind == "fisher_empirical":
        return _fisher(base, loss_fn, kind, [[y] for _, y in base.chunks])
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    labels = []
    with eval_semantics(model), torch.no_grad():
        for x, y in base.chunks:
            out = forward(model, base.params, base.constants, x)
            _check_classifier(out, y, kind)
            labels.append(_draw_labels(out, mc_samples, generator))
    return _fisher(base, loss_fn, kind, labels)


def xtrace(
    operator: LinearOperator | np.ndarray,
    n_matvecs: int,
    *,
    generator: torch.Generator | None = None,
) -> TraceEstimate:
    """Trace of a square operator by XTrace (Epperly, Tropp & Webber 2024, SIMAX, Alg. 1.1).

    With ``m = n_matvecs / 2`` Rademacher vectors ``ω_1 … ω_m`` and ``Q = orth(A Ω)``, estimate
    ``i`` is Hutch++ that sketches with every vector but ``ω_i`` and runs Hutchinson with ``ω_i``:
    ``tr(Q_iᵀ A Q_i) + ω_iᵀ (I − Q_i Q_iᵀ) A (I − Q_i Q_iᵀ) ω_i``, ``Q_i = orth(A Ω_{−i})``, which
    the paper's downdating gives from one QR of ``A Ω`` and the ``m`` products ``A Q``
    (``Q_i Q_iᵀ = Q (I − s_i s_iᵀ) Qᵀ``, ``s_i`` the normalised column ``i`` of ``R⁻ᵀ``). Each
    estimate is unbiased (``ω_i`` is independent of ``Q_i``, ``E ωωᵀ = I``); XTrace returns their
    mean, with the error estimate ``std / √m`` (Sec. 2.3). With ``n_matvecs`` at least the
    dimension, the trace is computed exactly from the products with the identity's columns.

    Parameters
    ----------
    operator
        A square SciPy ``LinearOperator`` (e.g. :func:`curvature_operator`) or array.
    n_matvecs
        Products to spend: even and ``>= 4`` when below the dimension.
    generator
        Random stream for the test vectors (``None``: seeded with 0).

    Returns
    -------
    TraceEstimate
        ``estimate`` (the mean of the ``m`` exchangeable estimates), ``std_error``,
        ``low_rank_part`` = ``tr(Qᵀ A Q)``, ``samples`` = each estimate minus ``low_rank_part``
        (so ``estimate = low_rank_part + mean(samples)``, as for Hutch++), ``method`` ``"xtrace"``
        (``"exact"`` when computed exactly) and ``n_hvp`` the products used.

    Raises
    ------
    InputError
        For a non-square operator or an odd or too small ``n_matvecs``.
    """
    start = time.perf_counter()
    op = aslinearoperator(operator)
    dim = op.shape[0]
    if op.shape != (dim, dim):
        raise InputError(f"operator must be square, got shape {op.shape}")
    check_count("n_matvecs", n_matvecs, minimum=1)
    if n_matvecs >= dim:
        exact = 0.0
        for first in range(0, dim, 64):  # identity columns in blocks: memory O(64 P)
            block = np.eye(dim, min(64, dim - first), -first)
            exact += float(np.trace(op.matmat(block)[first : first + block.shape[1]]))
        return TraceEstimate(
            exact, 0.0, np.zeros(1), exact, "exact", dim, time.perf_counter() - start
        )
    if n_matvecs < 4 or n_matvecs % 2:
        raise InputError(f"n_matvecs must be even and >= 4 for XTrace, got {n_matvecs}")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    m = n_matvecs // 2
    omega = torch.randint(0, 2, (dim, m), generator=generator).double() * 2 - 1  # (P, m)

    def apply(columns: Tensor) -> Tensor:
        return torch.from_numpy(np.asarray(op.matmat(columns.numpy()), dtype=np.float64))

    y = apply(omega)
    q, r = torch.linalg.qr(y)
    diagonal = r.diagonal().abs()
    kept = diagonal > 1e-12 * max(float(diagonal.max()), 1e-300)
    if not bool(kept.all()):
        # rank(AΩ) < m: (almost surely) the sketch holds the whole range of A, so the trace is
        # exact on it, tr(UᵀAU) over an orthonormal basis U of range(AΩ) (R is not invertible)
        u, singular, _ = torch.linalg.svd(y, full_matrices=False)
        basis = u[:, singular > 1e-12 * max(float(singular.max()), 1e-300)]
        low_rank = float(torch.trace(basis.T @ apply(basis))) if basis.shape[1] else 0.0
        return TraceEstimate(
            estimate=low_rank,
            std_error=0.0,
            samples=np.zeros(0),
            low_rank_part=low_rank,
            method="xtrace",
            n_hvp=m + int(basis.shape[1]),
            seconds=time.perf_counter() - start,
        )
    z = apply(q)  # A Q
    h = q.T @ z
    s = torch.linalg.inv(r).T
    s = s / s.norm(dim=0)

    def deflate(v: Tensor) -> Tensor:  # column i ↦ (I − s_i s_iᵀ) v_i, every i at once
        result: Tensor = v - s * (s * v).sum(0)
        return result

    ap_w = y - z @ deflate(q.T @ omega)  # column i: A (I − Q_i Q_iᵀ) ω_i
    pap_w = ap_w - q @ deflate(q.T @ ap_w)
    samples = ((omega * pap_w).sum(0) - (s * (h @ s)).sum(0)).numpy()
    low_rank = float(torch.trace(h))
    return TraceEstimate(
        estimate=low_rank + float(samples.mean()),
        std_error=float(samples.std(ddof=1) / np.sqrt(m)),
        samples=samples,
        low_rank_part=low_rank,
        method="xtrace",
        n_hvp=n_matvecs,
        seconds=time.perf_counter() - start,
    )
