"""Curvature operators against their dense definitions, curvlinops and our Lanczos; XTrace."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.sparse.linalg import LinearOperator, eigsh
from torch import nn
from torch.func import functional_call

from axionlab.errors import InputError
from axionlab.landscape import hessian_top_eigenvalues
from axionlab.landscape.operators import (
    CURVATURE_KINDS,
    KFACOperator,
    curvature_operator,
    kfac_factors,
    xtrace,
)

REFERENCE = Path(__file__).parent / "data" / "curvlinops_reference.npz"


@pytest.fixture
def setup(tiny: SimpleNamespace) -> SimpleNamespace:
    """The conftest MLP (Linear, BatchNorm, ReLU, Dropout, Linear: 91 parameters) in float64."""
    model = tiny.make_mlp().double()
    x, y = tiny.make_data()
    return SimpleNamespace(model=model, x=x.double(), y=y, dim=91)


def dense(op: LinearOperator) -> np.ndarray:
    matrix: np.ndarray = op @ np.eye(op.shape[1])
    return matrix


def assert_relative(a: np.ndarray, b: np.ndarray, tol: float = 1e-5) -> None:
    assert np.linalg.norm(a - b) <= tol * np.linalg.norm(b), np.linalg.norm(a - b)


def flat_outputs(model: nn.Module):  # type: ignore[no-untyped-def]
    """``θ_flat`` and ``(θ_flat, x) -> outputs`` (call with the model in eval mode)."""
    named = {n: p.detach() for n, p in model.named_parameters()}
    buffers = dict(model.named_buffers())

    def outputs(flat: torch.Tensor, xb: torch.Tensor) -> torch.Tensor:
        params, offset = {}, 0
        for n, p in named.items():
            params[n] = flat[offset : offset + p.numel()].reshape(p.shape)
            offset += p.numel()
        return functional_call(model, (params, buffers), (xb,))

    return torch.cat([p.reshape(-1) for p in named.values()]), outputs


def per_example_gradients(model, x, y):  # type: ignore[no-untyped-def]
    theta, outputs = flat_outputs(model)
    rows = []
    for i in range(len(y)):
        t = theta.clone().requires_grad_(True)
        loss = F.cross_entropy(outputs(t, x[i : i + 1]), y[i : i + 1])
        rows.append(torch.autograd.grad(loss, t)[0])
    return torch.stack(rows)  # (N, P)


def test_hessian_equals_autograd_and_leaves_model_untouched(
    setup: SimpleNamespace, tiny: SimpleNamespace
) -> None:
    snap = tiny.snapshot(setup.model)
    op = curvature_operator(setup.model, F.cross_entropy, (setup.x, setup.y), batch_size=5)
    assert op.shape == (setup.dim, setup.dim) and op.dtype == np.float64
    matrix = dense(op)
    assert_relative(matrix, tiny.dense_hessian(setup.model, setup.x, setup.y).numpy())
    assert op.n_matvec == setup.dim
    tiny.assert_unchanged(setup.model, snap)


def test_ggn_equals_dense_jacobian_product(setup: SimpleNamespace, tiny: SimpleNamespace) -> None:
    snap = tiny.snapshot(setup.model)
    setup.model.eval()
    theta, outputs = flat_outputs(setup.model)
    jac = torch.autograd.functional.jacobian(lambda t: outputs(t, setup.x), theta)  # (N, C, P)
    logits = outputs(theta, setup.x).detach()
    expected = torch.zeros(setup.dim, setup.dim, dtype=torch.float64)
    for n in range(len(setup.y)):
        h = torch.autograd.functional.hessian(
            lambda o, n=n: F.cross_entropy(o.unsqueeze(0), setup.y[n : n + 1]), logits[n]
        )
        expected += jac[n].T @ h @ jac[n]
    expected /= len(setup.y)
    setup.model.train()
    tiny.assert_unchanged(setup.model, snap)
    op = curvature_operator(setup.model, F.cross_entropy, (setup.x, setup.y), "ggn", batch_size=5)
    assert_relative(dense(op), expected.numpy())
    tiny.assert_unchanged(setup.model, snap)


def test_empirical_fisher_equals_per_example_loop(
    setup: SimpleNamespace, tiny: SimpleNamespace
) -> None:
    snap = tiny.snapshot(setup.model)
    setup.model.eval()
    g = per_example_gradients(setup.model, setup.x, setup.y)
    setup.model.train()
    op = curvature_operator(setup.model, F.cross_entropy, (setup.x, setup.y), "fisher_empirical")
    assert_relative(dense(op), (g.T @ g / len(setup.y)).numpy())
    chunked = curvature_operator(
        setup.model, F.cross_entropy, (setup.x, setup.y), "fisher_empirical", batch_size=4
    )
    v = np.linspace(-1, 1, setup.dim)
    assert_relative(chunked @ v, op @ v, 1e-12)  # chunks are memory only
    tiny.assert_unchanged(setup.model, snap)


def test_mc_fisher_is_the_fisher_of_its_drawn_labels_and_tends_to_the_ggn(
    setup: SimpleNamespace,
) -> None:
    op = curvature_operator(
        setup.model,
        F.cross_entropy,
        (setup.x, setup.y),
        "fisher_mc",
        batch_size=10,
        mc_samples=3,
        generator=torch.Generator().manual_seed(5),
    )
    # the documented draw: per chunk of 10, 3 labels per example from softmax, with replacement
    gen = torch.Generator().manual_seed(5)
    setup.model.eval()
    with torch.no_grad():
        logits = setup.model(setup.x)
    rows = []
    for start in range(0, len(setup.y), 10):
        chunk = slice(start, start + 10)
        drawn = torch.multinomial(logits[chunk].softmax(1), 3, replacement=True, generator=gen)
        for labels in drawn.T:
            rows.append(per_example_gradients(setup.model, setup.x[chunk], labels))
    setup.model.train()
    g = torch.cat(rows)
    assert_relative(dense(op), (g.T @ g / g.shape[0]).numpy())
    many = curvature_operator(
        setup.model, F.cross_entropy, (setup.x, setup.y), "fisher_mc", mc_samples=200
    )
    ggn = curvature_operator(setup.model, F.cross_entropy, (setup.x, setup.y), "ggn")
    v = np.linspace(-1, 1, setup.dim)
    assert np.linalg.norm(many @ v - ggn @ v) < 0.15 * np.linalg.norm(ggn @ v)


def _hand_kfac(model: nn.Module, x: torch.Tensor, y: torch.Tensor, fisher: str) -> torch.Tensor:
    """KFAC of the conftest MLP from its definition: explicit pre-activations, dense blocks."""
    p = {n: t.detach() for n, t in model.named_parameters()}
    bn = model[1]
    n_ex = len(y)

    def logits_from_s0(s0: torch.Tensor) -> torch.Tensor:
        h = (s0 - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * p["1.weight"]
        return torch.relu(h + p["1.bias"]) @ p["4.weight"].T + p["4.bias"]

    s0 = x @ p["0.weight"].T + p["0.bias"]
    a4 = torch.relu(
        (s0 - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * p["1.weight"] + p["1.bias"]
    )
    logits = logits_from_s0(s0)
    a_factors = {"0": x.T @ x / n_ex, "4": a4.T @ a4 / n_ex}
    g_factors = {"0": torch.zeros(8, 8, dtype=x.dtype), "4": torch.zeros(3, 3, dtype=x.dtype)}
    for n in range(n_ex):
        jac0 = torch.autograd.functional.jacobian(logits_from_s0, s0[n : n + 1])[0, :, 0]  # (3, 8)

        def loss(o: torch.Tensor, n: int = n) -> torch.Tensor:
            return F.cross_entropy(o.unsqueeze(0), y[n : n + 1])

        if fisher == "type-2":
            h = torch.autograd.functional.hessian(loss, logits[n])
            g_factors["4"] += h / n_ex
            g_factors["0"] += jac0.T @ h @ jac0 / n_ex
        else:
            g = torch.autograd.functional.jacobian(loss, logits[n])
            g_factors["4"] += torch.outer(g, g) / n_ex
            g_factors["0"] += torch.outer(jac0.T @ g, jac0.T @ g) / n_ex
    blocks = []
    for name, param in p.items():
        layer, kind = name.split(".")
        if layer == "1":  # BatchNorm: not covered, zero block
            blocks.append(torch.zeros(param.numel(), param.numel(), dtype=x.dtype))
        elif kind == "weight":
            blocks.append(torch.kron(g_factors[layer], a_factors[layer]))  # row-major vec(W)
        else:
            blocks.append(g_factors[layer])
    return torch.block_diag(*blocks)


@pytest.mark.parametrize("fisher", ["type-2", "empirical"])
def test_kfac_equals_its_dense_kronecker_definition(
    setup: SimpleNamespace, tiny: SimpleNamespace, fisher: str
) -> None:
    snap = tiny.snapshot(setup.model)
    op = curvature_operator(
        setup.model,
        F.cross_entropy,
        (setup.x, setup.y),
        "kfac",
        batch_size=6,
        kfac_fisher=fisher,  # type: ignore[arg-type]
    )
    assert isinstance(op, KFACOperator)
    assert op.uncovered == ("1.weight", "1.bias")
    tiny.assert_unchanged(setup.model, snap)
    assert all(not m._forward_hooks for m in setup.model.modules())
    expected = _hand_kfac(setup.model.eval(), setup.x, setup.y, fisher)
    setup.model.train()
    assert_relative(dense(op), expected.numpy())


def test_kfac_mc_weights_each_drawn_label_equally(setup: SimpleNamespace) -> None:
    data = (setup.x, setup.y)
    one = kfac_factors(setup.model, F.cross_entropy, data, fisher="mc", mc_samples=1)
    many = kfac_factors(setup.model, F.cross_entropy, data, fisher="mc", mc_samples=300)
    exact = kfac_factors(setup.model, F.cross_entropy, data, fisher="type-2")
    for o, m, e in zip(one.factors, many.factors, exact.factors, strict=True):
        torch.testing.assert_close(o.input_covariance, e.input_covariance)  # A has no labels
        g, ge = m.gradient_covariance, e.gradient_covariance
        assert torch.linalg.norm(g - ge) < 0.15 * torch.linalg.norm(ge)
        assert torch.linalg.norm(o.gradient_covariance - ge) > torch.linalg.norm(g - ge)


@pytest.mark.parametrize("kind", CURVATURE_KINDS)
def test_every_kind_is_symmetric_and_the_gauss_newton_kinds_psd(
    setup: SimpleNamespace, kind: str
) -> None:
    op = curvature_operator(setup.model, F.cross_entropy, (setup.x, setup.y), kind)  # type: ignore[arg-type]
    matrix = dense(op)
    scale = np.abs(matrix).max()
    np.testing.assert_allclose(matrix, matrix.T, atol=1e-12 * scale)
    v = np.cos(np.arange(setup.dim))
    np.testing.assert_allclose(op.rmatvec(v), op.matvec(v), atol=1e-12 * scale)
    lowest = np.linalg.eigvalsh(matrix).min()
    if kind == "hessian":
        assert lowest < -1e-3 * scale  # the tiny model's Hessian is indefinite
    else:
        assert lowest > -1e-10 * scale


def test_eigsh_on_the_operator_equals_our_lanczos(setup: SimpleNamespace) -> None:
    data = (setup.x, setup.y)
    op = curvature_operator(setup.model, F.cross_entropy, data)
    top = eigsh(op, k=1, which="LA", tol=1e-10, return_eigenvectors=False)[0]
    ours = hessian_top_eigenvalues(setup.model, F.cross_entropy, data, tol=1e-8)
    assert abs(top - ours.eigenvalues[0]) <= 1e-6 * abs(top)


def test_bad_arguments_are_input_errors(setup: SimpleNamespace) -> None:
    data = (setup.x, setup.y)
    with pytest.raises(InputError, match=r"kind must be one of .*Did you mean 'ggn'"):
        curvature_operator(setup.model, F.cross_entropy, data, "gnn")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="kfac_fisher must be one of"):
        curvature_operator(setup.model, F.cross_entropy, data, "kfac", kfac_fisher="exact")  # type: ignore[arg-type]
    seq = nn.Sequential(nn.Linear(5, 3), nn.Unflatten(1, (1, 3))).double()
    seq_data = (setup.x, setup.y.unsqueeze(1))

    def token_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(out.flatten(0, 1), y.flatten())

    for kind in ("fisher_mc", "kfac"):
        with pytest.raises(InputError, match=f"kind='{kind}' needs a classifier"):
            curvature_operator(seq, token_loss, seq_data, kind)  # type: ignore[arg-type]
    assert curvature_operator(seq, token_loss, seq_data, "ggn").shape == (18, 18)


def test_kfac_refuses_a_layer_called_twice() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.layer(torch.tanh(self.layer(x)))
            return out

    model = Twice()
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    with pytest.raises(InputError, match="runs more than once per forward pass"):
        curvature_operator(model, F.cross_entropy, (x, y), "kfac")
    assert not model.layer._forward_hooks


def _reference_cnn() -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor], np.ndarray, dict]:  # type: ignore[type-arg]
    ref = dict(np.load(REFERENCE))
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(48, 4)).double()
    state = {k.removeprefix("param:"): torch.from_numpy(v) for k, v in ref.items() if ":" in k}
    model.load_state_dict(state)
    return model, (torch.from_numpy(ref["x"]), torch.from_numpy(ref["y"])), ref["v"], ref


@pytest.mark.parametrize(
    ("key", "kind", "options"),
    [
        ("hessian", "hessian", {}),
        ("ggn", "ggn", {}),
        ("fisher_empirical", "fisher_empirical", {}),
        ("fisher_mc", "fisher_mc", {"seed": True}),
        ("kfac_type2", "kfac", {}),
        ("kfac_empirical", "kfac", {"kfac_fisher": "empirical"}),
    ],
)
def test_matvecs_equal_curvlinops_on_a_small_cnn(key: str, kind: str, options: dict) -> None:  # type: ignore[type-arg]
    model, data, v, ref = _reference_cnn()
    assert "curvlinops-for-pytorch==3.0.1" in list(ref["versions"])
    if options.pop("seed", False):  # curvlinops' generator seed: the same labels are drawn
        options["generator"] = torch.Generator().manual_seed(int(ref["seed"]))
    op = curvature_operator(model, F.cross_entropy, data, kind, batch_size=7, **options)  # type: ignore[arg-type]
    assert_relative(op @ v, ref[key], 1e-8)


def test_curvlinops_sum_reduction_is_n_times_our_mean_convention() -> None:
    model, data, v, ref = _reference_cnn()
    n = len(data[1])
    for key, kind in (("ggn_sum", "ggn"), ("kfac_type2_sum", "kfac")):
        op = curvature_operator(model, F.cross_entropy, data, kind, batch_size=7)  # type: ignore[arg-type]
        assert_relative(n * (op @ v), ref[key], 1e-8)


def _known_matrix(dim: int = 30, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    matrix: np.ndarray = (q * (1.0 / np.arange(1, dim + 1)) ** 0.7) @ q.T
    return matrix


def test_xtrace_is_unbiased_with_an_honest_error_estimate() -> None:
    matrix = _known_matrix()
    runs = [xtrace(matrix, 8, generator=torch.Generator().manual_seed(s)) for s in range(300)]
    estimates = np.array([r.estimate for r in runs])
    spread = estimates.std(ddof=1)
    assert abs(estimates.mean() - np.trace(matrix)) < 4 * spread / np.sqrt(len(runs))
    assert 0.3 < np.median([r.std_error for r in runs]) / spread < 3.0
    first = runs[0]
    assert first.method == "xtrace" and first.n_hvp == 8 and len(first.samples) == 4
    assert first.estimate == pytest.approx(first.low_rank_part + first.samples.mean())


def test_xtrace_is_exact_on_low_rank_and_with_enough_products(setup: SimpleNamespace) -> None:
    rng = np.random.default_rng(3)
    factor = rng.standard_normal((40, 3))
    low_rank = factor @ factor.T
    result = xtrace(low_rank, 10)  # 5 vectors: each leave-one-out sketch spans the range
    assert result.estimate == pytest.approx(np.trace(low_rank), rel=1e-10)
    op = curvature_operator(setup.model, F.cross_entropy, (setup.x, setup.y), "ggn")
    exact = xtrace(op, setup.dim)
    assert exact.method == "exact" and exact.std_error == 0.0 and exact.n_hvp == setup.dim
    assert exact.estimate == pytest.approx(np.trace(dense(op)), rel=1e-12)
    with pytest.raises(InputError, match="n_matvecs must be even and >= 4"):
        xtrace(low_rank, 7)
    with pytest.raises(InputError, match="operator must be square"):
        xtrace(np.ones((3, 4)), 2)


def test_empirical_fisher_of_a_sequence_model_is_per_sequence() -> None:
    gen = torch.Generator().manual_seed(2)
    model = nn.Linear(4, 5).double()  # logits (N, T, V) from inputs (N, T, 4)
    x = torch.randn(6, 3, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 5, (6, 3), generator=gen)
    y[0, 2] = y[3, 0] = -100  # not counted

    def token_loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(out.flatten(0, 1), target.flatten(), ignore_index=-100)

    rows = []
    for n in range(6):
        model.zero_grad()
        token_loss(model(x[n : n + 1]), y[n : n + 1]).backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))  # type: ignore[union-attr]
    g = torch.stack(rows)
    model.zero_grad(set_to_none=True)
    op = curvature_operator(model, token_loss, (x, y), "fisher_empirical", batch_size=4)
    assert_relative(dense(op), (g.T @ g / 6).numpy())


def test_xtrace_is_exact_on_a_structured_low_rank_operator() -> None:
    """A sketch of lower rank than its width holds the whole range: the trace is exact there
    (R of the sketch's QR is singular, so the leave-one-out formula cannot be used)."""
    assert xtrace(np.diag([1.0] * 5 + [0.0] * 195), 40).estimate == pytest.approx(5.0, rel=1e-12)
    assert xtrace(np.zeros((200, 200)), 40).estimate == 0.0


def test_hessian_and_ggn_of_padded_sequences_do_not_depend_on_the_chunking() -> None:
    torch.manual_seed(0)
    model = nn.Linear(4, 5)
    x = torch.randn(6, 3, 4)
    y = torch.randint(0, 5, (6, 3))
    y[0, 1:] = -100
    y[3, 0] = -100

    def token_mean(out: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(out.reshape(-1, 5), targets.reshape(-1), ignore_index=-100)

    v = np.random.default_rng(0).normal(size=25)
    for kind in ("hessian", "ggn"):
        whole = curvature_operator(model, token_mean, (x, y), kind) @ v
        chunked = curvature_operator(model, token_mean, (x, y), kind, batch_size=2) @ v
        np.testing.assert_allclose(chunked, whole, rtol=1e-6, atol=1e-9, err_msg=kind)


def test_the_operator_is_a_snapshot_of_the_weights() -> None:
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    op = curvature_operator(model, F.cross_entropy, (x, y), "ggn")
    v = np.ones(8)
    before = op @ v
    with torch.no_grad():
        model.weight.add_(1.0)
    np.testing.assert_array_equal(op @ v, before)
