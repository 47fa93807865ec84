from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch
from torch import nn

from axionlab.collapse import find_head, neural_collapse, penultimate_features
from axionlab.errors import InputError
from axionlab.models import build_model


def _simplex_etf(c: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """(C, d) rows: a centred simplex ETF rotated into d dimensions."""
    basis, _ = np.linalg.qr(rng.standard_normal((d, c)))  # (d, C) orthonormal columns
    etf = np.sqrt(c / (c - 1)) * (np.eye(c) - np.ones((c, c)) / c)
    return 3.0 * etf @ basis.T


def _dense_reference(h, y, w, b):
    """A direct transcription of the Papyan et al. formulas with d x d matrices."""
    classes = np.unique(y)
    c, n = len(classes), len(y)
    mu = np.stack([h[y == k].mean(axis=0) for k in classes])
    mu_g = h.mean(axis=0)
    sigma_w = (
        sum(
            np.outer(h[i] - mu[classes == y[i]][0], h[i] - mu[classes == y[i]][0]) for i in range(n)
        )
        / n
    )
    sigma_b = sum(np.outer(m - mu_g, m - mu_g) for m in mu) / c
    nc1 = np.trace(sigma_w @ np.linalg.pinv(sigma_b, rcond=1e-10, hermitian=True)) / c
    centred = mu - mu_g
    norms = np.linalg.norm(centred, axis=1)
    cos = [
        centred[a] @ centred[b_] / (norms[a] * norms[b_])
        for a, b_ in itertools.permutations(range(c), 2)
    ]
    wc = w[classes]
    nc3 = np.linalg.norm(wc / np.linalg.norm(wc) - centred / np.linalg.norm(centred))
    pred = classes[np.argmax(h @ wc.T + b[classes], axis=1)]
    ncc = classes[np.argmin([[np.linalg.norm(x - m) for m in mu] for x in h], axis=1)]
    return {
        "nc1": nc1,
        "nc2_norms": norms.std() / norms.mean(),
        "nc2_angles": np.mean(np.abs(np.array(cos) + 1 / (c - 1))),
        "nc2_equiangularity": np.std(cos),
        "nc3": nc3,
        "nc4": np.mean(pred != ncc),
    }


@pytest.mark.parametrize(("c", "d"), [(2, 3), (4, 7), (10, 16)])
def test_perfect_simplex_etf_is_fully_collapsed(c, d):
    rng = np.random.default_rng(0)
    means = _simplex_etf(c, d, rng)
    y = np.repeat(np.arange(c), 5)
    h = means[y]
    result = neural_collapse(h, y, 0.7 * means, np.zeros(c))
    for field in ("nc1", "nc2_norms", "nc2_angles", "nc2_equiangularity", "nc3", "nc4"):
        assert abs(getattr(result, field)) < 1e-10, field
    assert (result.n_classes, result.n) == (c, 5 * c)


def test_random_features_are_far_from_collapse():
    rng = np.random.default_rng(1)
    h = rng.standard_normal((200, 9))
    y = rng.integers(0, 4, 200)
    result = neural_collapse(h, y, rng.standard_normal((4, 9)))
    assert result.nc1 > 1.0
    assert result.nc3 > 0.5
    assert result.nc4 > 0.2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_dense_numpy_transcription(seed):
    rng = np.random.default_rng(seed)
    n, c, d = 41, 4, 7
    y = np.concatenate([np.arange(c), rng.integers(0, c, n - c)])
    h = rng.standard_normal((n, d)) + 2.0 * rng.standard_normal((c, d))[y]
    w, b = rng.standard_normal((c, d)), rng.standard_normal(c)
    result = neural_collapse(torch.from_numpy(h), torch.from_numpy(y), w, b)
    for field, value in _dense_reference(h, y, w, b).items():
        assert getattr(result, field) == pytest.approx(value, rel=1e-9, abs=1e-12), field


def test_edge_cases_single_example_class_two_classes_absent_head_rows():
    rng = np.random.default_rng(3)
    h = rng.standard_normal((9, 5))
    y = np.array([0, 0, 0, 0, 2, 2, 2, 2, 5])  # class 5 has one example; rows 1, 3, 4 unused
    w, b = rng.standard_normal((6, 5)), rng.standard_normal(6)
    result = neural_collapse(h, y, w, b)
    for field, value in _dense_reference(h, y, w, b).items():
        assert getattr(result, field) == pytest.approx(value, rel=1e-9, abs=1e-12), field
    two = neural_collapse(h[:8], y[:8], w)
    assert two.n_classes == 2
    # with two classes the centred means are always antiparallel (weights n_c sum them to 0)
    assert two.nc2_angles == pytest.approx(0.0, abs=1e-12)


def test_clear_errors():
    h, y, w = np.zeros((4, 3)), np.array([0, 1, 0, 1]), np.ones((2, 3))
    with pytest.raises(InputError, match=r"labels must have shape \(4,\)"):
        neural_collapse(h, y[:3], w)
    with pytest.raises(InputError, match=r"classifier_weight must have shape \(K, 3\)"):
        neural_collapse(h, y, np.ones((2, 4)))
    with pytest.raises(InputError, match="at least 2 classes"):
        neural_collapse(h, np.zeros(4, dtype=int), w)
    with pytest.raises(InputError, match="NaN"):
        neural_collapse(np.full((4, 3), np.nan), y, w)
    with pytest.raises(InputError, match=r"lie in \[0, 2\)"):
        neural_collapse(h, np.array([0, 1, 2, 1]), w)
    with pytest.raises(InputError, match="integers"):
        neural_collapse(h, y.astype(float), w)
    with pytest.raises(InputError, match="2-D"):
        neural_collapse(np.zeros(4), y, w)
    with pytest.raises(InputError, match=r"classifier_bias must have shape \(2,\)"):
        neural_collapse(h, y, w, np.zeros(3))


def test_penultimate_features_of_a_zoo_model_leave_it_untouched():
    model = build_model("resnet_mini", (1, 8, 8), 5, generator=torch.Generator().manual_seed(0))
    model.train()
    model.body[0][1].eval()  # a mixed-mode model: each flag must come back as it was
    state = copy.deepcopy(model.state_dict())
    flags = [m.training for m in model.modules()]
    requires = [p.requires_grad for p in model.parameters()]
    x = torch.randn(13, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    feats = penultimate_features(model, x, batch_size=4)
    assert feats.shape == (13, model.head.in_features)
    with torch.no_grad():
        model.eval()
        expected = model.body(x)
    for m, f in zip(model.modules(), flags, strict=True):
        m.training = f
    torch.testing.assert_close(feats, expected)
    now = model.state_dict()
    assert all(torch.equal(state[k], now[k]) for k in state)
    assert [m.training for m in model.modules()] == flags
    assert [p.requires_grad for p in model.parameters()] == requires
    torch.testing.assert_close(feats @ model.head.weight.T + model.head.bias, model.eval()(x))


def test_hf_like_classifier_head_found_by_name_and_mapping_inputs():
    class Head(nn.Module):  # RoBERTa-style: classifier.dense then classifier.out_proj
        def __init__(self) -> None:
            super().__init__()
            self.dense, self.out_proj = nn.Linear(6, 6), nn.Linear(6, 3)

        def forward(self, x):
            return self.out_proj(torch.tanh(self.dense(x)))

    class ForSequenceClassification(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed, self.classifier = nn.Embedding(20, 6), Head()

        def forward(self, input_ids, attention_mask):
            pooled = (self.embed(input_ids) * attention_mask[..., None]).mean(dim=1)
            return {"logits": self.classifier(pooled)}

    model = ForSequenceClassification()
    assert find_head(model) is model.classifier.out_proj
    ids = torch.randint(0, 20, (7, 5), generator=torch.Generator().manual_seed(0))
    feats = penultimate_features(model, {"input_ids": ids, "attention_mask": torch.ones(7, 5)})
    assert feats.shape == (7, 6)
    explicit = penultimate_features(
        model, {"input_ids": ids, "attention_mask": torch.ones(7, 5)}, head=model.classifier
    )
    assert explicit.shape == (7, 6)
    with pytest.raises(InputError, match="head="):
        find_head(nn.Sequential(nn.Linear(3, 3)))
    with pytest.raises(InputError, match="submodule"):
        penultimate_features(model, {"input_ids": ids}, head=nn.Linear(6, 3))
    with pytest.raises(InputError, match="batch_size"):
        penultimate_features(model, ids, batch_size=0)
