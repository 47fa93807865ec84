from __future__ import annotations

import contextlib
import io
import logging
import math
import warnings

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits
from torch import nn

from axionlab.errors import InputError
from axionlab.models import build_model
from axionlab.spectra import layer_spectra, power_law_fit, spectra_summary


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # the suite runs one worker per core; multithreaded LAPACK on top oversubscribes the CPU
    with threadpool_limits(1):
        yield


_METRICS = ("alpha", "alpha_weighted", "stable_rank", "spectral_norm", "log_norm", "log_alpha_norm")
_FIT = {"x_min": "xmin", "ks_distance": "D", "n": "num_evals"}


def _weightwatcher(model: nn.Module):
    ww = pytest.importorskip("weightwatcher")
    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        watcher = ww.WeightWatcher(model=model)
        details = watcher.analyze()
        return details, watcher.get_summary()


@pytest.mark.parametrize(
    ("name", "shape"),
    [("mlp", (1, 8, 8)), ("cnn", (1, 8, 8)), ("resnet_mini", (1, 8, 8)), ("vit_mini", (1, 8, 8))],
)
def test_matches_weightwatcher_defaults_on_zoo_models(name, shape):
    model = build_model(name, shape, 10, generator=torch.Generator().manual_seed(3))
    details, summary = _weightwatcher(model)
    ours = layer_spectra(model)
    assert [s.name for s in ours] == list(details["longname"])
    for spectrum, (_, row) in zip(ours, details.iterrows(), strict=True):
        for metric in _METRICS:
            assert getattr(spectrum, metric) == pytest.approx(row[metric], rel=1e-9, abs=1e-9)
        for ours_name, theirs in _FIT.items():
            assert getattr(spectrum, ours_name) == pytest.approx(row[theirs], rel=1e-9)
        assert spectrum.n_tail == row["num_pl_spikes"]
    mine = spectra_summary(ours)
    for metric in ("alpha", "alpha_weighted", "log_alpha_norm", "log_norm", "stable_rank"):
        assert getattr(mine, metric) == pytest.approx(summary[metric], rel=1e-9, abs=1e-9)
    assert mine.log_spectral_norm == pytest.approx(summary["log_spectral_norm"], abs=1e-9)


def test_conv_is_pooled_per_kernel_position_and_halved():
    conv = nn.Conv2d(6, 10, kernel_size=3)
    (spectrum,) = layer_spectra(conv)
    w = conv.weight.detach().double().numpy()
    per_position = [
        np.linalg.svd(w[:, :, i, j], compute_uv=False) ** 2 for i in range(3) for j in range(3)
    ]
    expected = np.sort(np.concatenate(per_position)) / 2
    np.testing.assert_allclose(spectrum.eigenvalues, expected, rtol=1e-12)
    assert (spectrum.n_rows, spectrum.n_cols, spectrum.n_matrices, spectrum.n) == (10, 6, 9, 54)
    (raw,) = layer_spectra(conv, conv_norm=False)
    np.testing.assert_allclose(raw.eigenvalues, 2 * expected, rtol=1e-12)


def test_size_filter_and_layer_kinds():
    class Conv1D(nn.Module):  # the shape of transformers.pytorch_utils.Conv1D
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.randn(12, 36))

    model = nn.Sequential(
        nn.Linear(20, 30), nn.Linear(30, 4), nn.Embedding(50, 16), Conv1D(), nn.LayerNorm(30)
    )
    spectra = layer_spectra(model)
    # the 4 x 30 layer has 4 < 8 eigenvalues; LayerNorm is no matrix
    assert [(s.name, s.kind, s.n) for s in spectra] == [
        ("0", "linear", 20),
        ("2", "embedding", 16),
        ("3", "conv1d_hf", 12),
    ]
    assert [s.name for s in layer_spectra(model, min_evals=None, max_evals=16)] == ["1", "2", "3"]
    assert [s.name for s in layer_spectra(model, max_n=40)] == ["0", "3"]


def test_norm_metrics_are_the_documented_functions_of_the_eigenvalues():
    (s,) = layer_spectra(nn.Linear(40, 25))
    lam = s.eigenvalues
    assert s.spectral_norm == pytest.approx(lam.max())
    assert s.log_norm == pytest.approx(math.log10(lam.sum()))
    assert s.stable_rank == pytest.approx(lam.sum() / lam.max())
    assert s.alpha_weighted == pytest.approx(s.alpha * math.log10(lam.max()))
    assert s.log_alpha_norm == pytest.approx(math.log10(np.sum(lam**s.alpha)))


def test_gaussian_matrices_have_no_heavy_tail():
    # Marchenko-Pastur has a hard edge: the KS-chosen tail is a few dozen values near the edge
    # with a steep fitted decay. Single fits scatter (about 5-19 at this size), the median is > 6.
    rng = np.random.default_rng(0)
    alphas = []
    for _ in range(9):
        w = rng.standard_normal((600, 300))
        alphas.append(power_law_fit(np.linalg.svd(w, compute_uv=False) ** 2).alpha)
    assert np.median(alphas) > 6
    assert min(alphas) > 4


@pytest.mark.parametrize("alpha", [2.0, 2.5, 3.5])
def test_planted_power_law_singular_values_recover_alpha(alpha):
    rng = np.random.default_rng(1)
    m = 1000
    eigenvalues = (1 - rng.random(m)) ** (-1 / (alpha - 1))  # density ∝ λ^-alpha on [1, ∞)
    q1, _ = np.linalg.qr(rng.standard_normal((1200, m)))
    q2, _ = np.linalg.qr(rng.standard_normal((m, m)))
    weight = torch.from_numpy((q1 * np.sqrt(eigenvalues)) @ q2.T).T  # (out=m, in=1200)
    layer = nn.Linear(1200, m, bias=False)
    with torch.no_grad():
        layer.weight.copy_(weight)
    (s,) = layer_spectra(layer, max_evals=None)
    assert s.alpha == pytest.approx(alpha, abs=0.25)


def test_fit_edge_cases():
    assert math.isnan(power_law_fit([0.0, 1e-7, 3.0]).alpha)
    assert math.isnan(power_law_fit(np.ones(12)).alpha)
    with pytest.raises(InputError, match="NaN"):
        power_law_fit([1.0, float("nan"), 2.0])
    with pytest.raises(InputError, match="1-D"):
        power_law_fit(np.ones((3, 3)))


def test_bad_arguments_and_model_untouched():
    model = nn.Linear(20, 10)
    before = model.weight.detach().clone()
    layer_spectra(model)
    assert torch.equal(model.weight, before) and model.weight.requires_grad
    with pytest.raises(InputError, match="min_evals"):
        layer_spectra(model, min_evals=0)
    with pytest.raises(InputError, match="empty"):
        spectra_summary([])
    bad = nn.Linear(20, 10)
    with torch.no_grad():
        bad.weight[0, 0] = float("nan")
    with pytest.raises(InputError, match="NaN weights"):
        layer_spectra(bad)
