import math

import numpy as np
import pytest
import torch
from torch import nn

from axionlab.errors import ConfigError, DataError, InputError
from axionlab.train import TrainConfig, evaluate, load_checkpoint, save_checkpoint, train


def _blobs(n: int = 200, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    centres = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    return centres[y] + 0.5 * torch.randn(n, 2, generator=g), y


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 3))


def test_same_seed_gives_bit_identical_weights() -> None:
    data = _blobs()
    config = TrainConfig(optimizer="adam", lr=1e-2, epochs=3, batch_size=32)
    states = []
    for _ in range(2):
        model = _model()
        train(
            model,
            data,
            config,
            generator=torch.Generator().manual_seed(7),
            augment=lambda x, g: x + 0.01 * torch.randn(x.shape, generator=g),
        )
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    other = _model()
    train(other, data, config, generator=torch.Generator().manual_seed(8))
    assert not torch.equal(states[0]["0.weight"], other.state_dict()["0.weight"])


def test_training_learns_and_records_history() -> None:
    data = _blobs()
    config = TrainConfig(
        optimizer="sgd", lr=0.1, momentum=0.9, epochs=5, batch_size=50, eval_every=4
    )
    model = _model()
    result = train(model, data, config, generator=torch.Generator().manual_seed(0), eval_data=data)
    assert result.steps == 5 * 4 == len(result.loss) == len(result.accuracy)
    assert list(result.eval_steps) == [0, 4, 8, 12, 16, 20]
    assert result.final_eval is not None and result.final_eval[1] > 0.9
    assert result.eval_loss[-1] < result.eval_loss[0]
    assert model.training  # mode restored


def test_steps_counted_in_optimizer_steps_and_on_step() -> None:
    seen: list[int] = []
    config = TrainConfig(steps=11, batch_size=64)
    result = train(
        _model(),
        _blobs(),
        config,
        generator=torch.Generator().manual_seed(0),
        on_step=lambda step, info: seen.append(step),
    )
    assert seen == list(range(1, 12))
    assert result.steps == 11


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("constant", [0.05, 0.1, 0.1, 0.1, 0.1, 0.1]),
        (
            "cosine",
            [
                0.05,
                0.1,
                0.1,
                0.1 * (1 + math.cos(math.pi / 4)) / 2,
                0.05,
                0.1 * (1 + math.cos(3 * math.pi / 4)) / 2,
            ],
        ),
        ("step", [0.05, 0.1, 0.1, 0.01, 0.01, 0.001]),
    ],
)
def test_learning_rate_schedules(schedule: str, expected: list[float]) -> None:
    config = TrainConfig(
        lr=0.1,
        steps=6,
        schedule=schedule,  # type: ignore[arg-type]
        warmup_steps=2,
        step_milestones=(0.5, 0.8),
    )
    got = [config.learning_rate(s, 6, 3) for s in range(6)]
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_penalty_and_batch_penalty_are_added() -> None:
    data = _blobs()
    config = TrainConfig(steps=3)
    result = train(
        _model(),
        data,
        config,
        generator=torch.Generator().manual_seed(0),
        penalty=lambda m: torch.tensor(2.0),
        batch_penalty=lambda x, logits: logits.sum() * 0 + 0.5,
    )
    np.testing.assert_allclose(result.penalty, 2.5)


def test_mask_classes_restricts_loss_and_accuracy() -> None:
    x, y = _blobs()
    keep = y != 2
    data = (x[keep], y[keep])
    model = _model()
    full_loss, _ = evaluate(model, data)
    masked_loss, _ = evaluate(model, data, mask_classes=[0, 1])
    assert masked_loss < full_loss  # fewer competitors
    train(
        model,
        data,
        TrainConfig(lr=0.2, epochs=5, batch_size=32),
        generator=torch.Generator().manual_seed(0),
        class_groups=[[0, 1]],
    )
    assert evaluate(model, data, mask_classes=[0, 1])[1] > 0.95
    with pytest.raises(InputError, match="outside the mask classes"):
        evaluate(model, _blobs(), mask_classes=[0, 1])


def test_class_groups_mask_each_example_to_its_group() -> None:
    torch.manual_seed(0)
    model = nn.Linear(2, 4)
    x = torch.randn(6, 2)
    y = torch.tensor([0, 1, 2, 3, 0, 2])
    # each example scored as a two-way problem in its own group, label smoothing included
    logits = model(x).detach()
    pairs = torch.stack(
        [logits[torch.arange(6), (y // 2) * 2], logits[torch.arange(6), (y // 2) * 2 + 1]], 1
    )
    reference = nn.functional.cross_entropy(pairs, y % 2, label_smoothing=0.2)
    config = TrainConfig(steps=1, batch_size=6, label_smoothing=0.2)
    result = train(
        model,
        (x, y),
        config,
        generator=torch.Generator().manual_seed(0),
        class_groups=[[0, 1], [2, 3]],
    )
    assert result.loss[0] == pytest.approx(float(reference), rel=1e-6)


def test_evaluate_uses_eval_mode_and_restores_it() -> None:
    model = _model()
    x, y = _blobs()
    first = evaluate(model, (x, y), batch_size=7)
    second = evaluate(model, (x, y), batch_size=1000)
    assert first == pytest.approx(second, rel=1e-6)  # dropout off, batch-invariant
    assert model.training
    model.eval()
    evaluate(model, (x, y))
    assert not model.training


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match="optimizer must be"):
        TrainConfig(optimizer="adagrad")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="at most one of epochs and steps"):
        TrainConfig(epochs=2, steps=10)
    assert TrainConfig(batch_size=32).total_steps(100) == 4  # one epoch by default
    with pytest.raises(ConfigError, match="lr must be positive"):
        TrainConfig(lr=0.0)
    with pytest.raises(InputError, match="3 examples but y has 2"):
        train(
            _model(),
            (torch.zeros(3, 2), torch.zeros(2, dtype=torch.long)),
            TrainConfig(),
            generator=torch.Generator(),
        )


def test_checkpoint_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = _model(0)
    optimizer = torch.optim.Adam(model.parameters())
    path = save_checkpoint(tmp_path / "sub" / "ckpt.pt", model, optimizer, extra={"step": 3})
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.pt"]  # no temporary left over
    other = _model(1)
    loaded = load_checkpoint(path, other)
    assert loaded["extra"] == {"step": 3}
    assert loaded["optimizer"] is not None
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), other.state_dict().values(), strict=True)
    )
    with pytest.raises(DataError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt", other)


def test_divergence_stops_training_and_records_the_step() -> None:
    data = _blobs()
    model = _model()
    result = train(
        model,
        data,
        TrainConfig(optimizer="sgd", lr=1e12, steps=50, batch_size=32),
        generator=torch.Generator().manual_seed(0),
    )
    assert result.diverged and result.diverged_step is not None
    assert 1 <= result.diverged_step < 50
    assert result.steps in (result.diverged_step - 1, result.diverged_step)
    assert result.final_eval is None
    assert np.isnan(result.loss[result.diverged_step :]).all()  # never reached
    healthy = train(
        _model(),
        data,
        TrainConfig(lr=0.05, steps=20, batch_size=32),
        generator=torch.Generator().manual_seed(0),
    )
    assert not healthy.diverged and healthy.diverged_step is None and healthy.steps == 20


def test_a_nonfinite_penalty_is_divergence_at_that_step() -> None:
    calls: list[int] = []

    def penalty(model: nn.Module) -> torch.Tensor:
        calls.append(1)
        return torch.tensor(math.inf) if len(calls) == 3 else torch.tensor(0.0)

    result = train(
        _model(),
        _blobs(),
        TrainConfig(lr=0.01, steps=10, batch_size=32),
        generator=torch.Generator().manual_seed(0),
        penalty=penalty,
    )
    assert result.diverged_step == 3 and result.steps == 2 and len(calls) == 3


def test_evaluate_scores_nonfinite_weights_and_logits_as_nan() -> None:
    data = _blobs()
    model = _model()
    loss, acc = evaluate(model, data)
    assert math.isfinite(loss) and 0.0 <= acc <= 1.0
    with torch.no_grad():
        model[0].weight[0, 0] = math.nan
    assert all(math.isnan(v) for v in evaluate(model, data))

    class Inf(nn.Module):  # finite weights, non-finite outputs: argmax would say class 0
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.ones(2, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x @ self.w) * math.inf

    assert all(math.isnan(v) for v in evaluate(Inf(), data))


def test_crop_flip_is_a_seeded_crop_of_the_padded_image() -> None:
    from axionlab.train import crop_flip

    x = torch.randn(6, 3, 5, 7, generator=torch.Generator().manual_seed(0))
    a = crop_flip(x, torch.Generator().manual_seed(1), padding=2)
    b = crop_flip(x, torch.Generator().manual_seed(1), padding=2)
    assert torch.equal(a, b) and a.shape == x.shape
    gen = torch.Generator().manual_seed(1)
    offsets = torch.randint(0, 5, (2, 6), generator=gen)
    flips = torch.rand(6, generator=gen) < 0.5
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(6):  # plain-loop reference
        oy, ox = int(offsets[0, i]), int(offsets[1, i])
        crop = padded[i, :, oy : oy + 5, ox : ox + 7]
        torch.testing.assert_close(a[i], crop.flip(-1) if flips[i] else crop)
    assert torch.equal(
        crop_flip(x[:, :, :, :], torch.Generator(), padding=0).abs().sum(), x.abs().sum()
    )
    with pytest.raises(InputError, match="needs images"):
        crop_flip(torch.zeros(4, 8), torch.Generator())


def test_all_finite_on_mixed_dtypes_nan_inf_and_empty() -> None:
    from axionlab.train import all_finite

    ones32, ones64 = torch.ones(3), torch.ones(2, dtype=torch.float64)
    assert all_finite([ones32, ones64]) and all_finite([]) and all_finite([torch.zeros(0)])
    assert not all_finite([ones32, torch.tensor([math.nan])])
    assert not all_finite([torch.tensor([-math.inf]), ones64])
    assert all_finite([torch.full((4,), 3e38)])  # near float32's max: no overflow


def test_steps_count_the_update_that_made_the_weights_nonfinite() -> None:
    x, y = _blobs()
    result = train(
        _model(),
        (100 * x, y),
        TrainConfig(optimizer="sgd", lr=1e38, steps=5, batch_size=32),
        generator=torch.Generator().manual_seed(0),
    )
    assert result.diverged_step == 1 and result.steps == 1  # the loss was finite, the step taken
    assert math.isfinite(result.loss[0]) and np.isnan(result.loss[1:]).all()


class _TokenModel(nn.Module):
    """A tiny sequence model: logits (B, T, V) from token ids (B, T)."""

    def __init__(self, vocab: int = 7, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(vocab, 5)
        self.out = nn.Linear(5, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.embed(x)))


def _token_data(n: int = 9, t: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 7, (n, t), generator=g)
    y = torch.roll(x, -1, dims=1)
    y[torch.rand(n, t, generator=g) < 0.3] = -100  # rows count different numbers of tokens
    return x, y


def test_evaluate_sequence_targets_is_token_weighted_across_batches() -> None:
    model = _TokenModel()
    x, y = _token_data()
    with torch.no_grad():
        logits = model(x)
    valid = y != -100
    nll = torch.nn.functional.cross_entropy(logits[valid], y[valid], reduction="sum")
    hits = (logits.argmax(-1)[valid] == y[valid]).sum()
    loss, accuracy = evaluate(model, (x, y), batch_size=4)  # 3 uneven batches
    assert loss == pytest.approx(float(nll) / int(valid.sum()), abs=1e-6)
    assert accuracy == pytest.approx(int(hits) / int(valid.sum()), abs=1e-12)


def test_train_on_sequence_targets_lowers_the_loss_deterministically() -> None:
    x, y = _token_data(n=32)
    config = TrainConfig(optimizer="adam", lr=5e-2, epochs=5, batch_size=8)
    states = []
    for _ in range(2):
        model = _TokenModel()
        before = evaluate(model, (x, y))[0]
        result = train(model, (x, y), config, generator=torch.Generator().manual_seed(1))
        assert evaluate(model, (x, y))[0] < before and not result.diverged
        assert np.isfinite(result.accuracy).all() and (result.accuracy <= 1).all()
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_sequence_targets_refuse_masks_augment_and_misshapen_logits() -> None:
    model, data = _TokenModel(), _token_data()
    config = TrainConfig(steps=1, batch_size=4)
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(InputError, match="class_groups"):
        train(model, data, config, generator=gen, class_groups=[[0, 1], [2]])
    with pytest.raises(InputError, match="augment"):
        train(model, data, config, generator=gen, augment=lambda x, g: x)
    with pytest.raises(InputError, match="mask_classes"):
        evaluate(model, data, mask_classes=[0, 1])
    with pytest.raises(InputError, match=r"logits \(B, T, V\)"):
        evaluate(model, (data[0], data[1][:, :-1]))
    with pytest.raises(InputError, match="no token"):
        evaluate(model, (data[0], torch.full_like(data[1], -100)))
    with pytest.raises(InputError, match=r"\(N,\) .* or \(N, T\)"):
        evaluate(model, (data[0], data[1][:, :, None]))


def test_a_batch_without_counted_tokens_is_zero_loss_not_divergence() -> None:
    x, y = _token_data(n=4)
    y[:2] = -100
    model = _TokenModel()
    config = TrainConfig(optimizer="sgd", lr=0.1, steps=2, batch_size=2)
    result = train(model, (x, y), config, generator=torch.Generator().manual_seed(0))
    assert not result.diverged and 0.0 in result.loss.tolist()
