from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from axionlab.errors import InputError
from axionlab.landscape import (
    interpolate,
    loss_barrier,
    loss_line,
    loss_plane,
    random_directions,
)


def _reference(model, x, y, center, dirs, coefs):
    """A plain eval-mode loop: write each point's weights into a copy, one forward each."""
    work = copy.deepcopy(model).eval()
    out = []
    with torch.no_grad():
        for c in coefs:
            for n, p in work.named_parameters():
                p.copy_(center[n] + sum(ci * d[n] for ci, d in zip(c, dirs, strict=True)))
            out.append(F.cross_entropy(work(x), y).item())
    return np.array(out)


def _plane_reference(model, x, y, dirs, surface):
    """The plain loop on the plane's grid, shaped like ``surface.values``."""
    center = {n: p.detach().clone() for n, p in model.named_parameters()}
    coefs = [(a, b) for a in surface.alphas for b in surface.betas]
    return _reference(model, x, y, center, dirs, coefs).reshape(surface.values.shape)


class _Custom(nn.Module):
    """Input reshaped before the first layer (no affine shortcut) and a training-mode branch."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 2)
        self.bn = nn.BatchNorm2d(3)
        self.head = nn.Linear(3 * 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.dropout(torch.relu(self.bn(self.conv(x.view(-1, 1, 3, 3)))), 0.5, self.training)
        return self.head(h.flatten(1))


@pytest.mark.parametrize("strategy", ["loop", "vmap", "auto"])
@pytest.mark.parametrize("affine", [True, False])
def test_plane_equals_plain_eval_loop(tiny, strategy, affine):
    model, (x, y) = tiny.make_mlp(), tiny.make_data()
    snap = tiny.snapshot(model)
    dirs = random_directions(model, 2, generator=torch.Generator().manual_seed(2))
    surface = loss_plane(
        model,
        F.cross_entropy,
        (x, y),
        dirs,
        steps=7,
        strategy=strategy,
        exploit_affine=affine,
        batch_size=10,
        points_per_batch=3,
    )
    ref = _plane_reference(model, x, y, dirs, surface)
    assert surface.values.shape == (7, 7)
    assert np.abs(surface.values - ref).max() <= 1e-5
    assert surface.values[3, 3] == pytest.approx(surface.center_loss, abs=1e-6)
    assert surface.n_nonfinite == 0 and surface.n_examples == len(x)
    assert surface.strategy.startswith(strategy if strategy != "auto" else "")
    tiny.assert_unchanged(model, snap)


def test_custom_model_dataloader_and_line(tiny):
    torch.manual_seed(0)
    model = _Custom().train()
    snap = tiny.snapshot(model)
    x, y = torch.randn(20, 9), torch.randint(0, 3, (20,))
    (d,) = random_directions(model, 1)
    loader = [(x[i : i + 6], y[i : i + 6]) for i in range(0, 20, 6)]
    line = loss_line(model, F.cross_entropy, loader, d, steps=5, span=(-0.5, 0.5))
    center = {n: p.detach().clone() for n, p in model.named_parameters()}
    ref = _reference(model, x, y, center, [d], [(a,) for a in line.alphas])
    assert np.abs(line.values - ref).max() <= 1e-5
    assert line.strategy == "loop"  # too few points to autotune; no affine shortcut
    tiny.assert_unchanged(model, snap)


def test_interpolation_and_barrier(tiny):
    a, b = tiny.make_mlp(seed=0), tiny.make_mlp(seed=3)
    x, y = tiny.make_data()
    line = interpolate(a, F.cross_entropy, (x, y), a, b, steps=5)
    pa = {n: p.detach() for n, p in a.named_parameters()}
    pb = {n: p.detach() for n, p in b.named_parameters()}
    diff = {k: pb[k] - pa[k] for k in pa}
    ref = _reference(a, x, y, pa, [diff], [(t,) for t in line.alphas])
    assert np.abs(line.values - ref).max() <= 1e-5
    assert line.center_loss == pytest.approx(ref[0], abs=1e-6)
    assert line.end_loss == pytest.approx(ref[-1], abs=1e-6)
    t = line.alphas
    expected = np.max(ref - ((1 - t) * ref[0] + t * ref[-1]))
    assert loss_barrier(line) == pytest.approx(expected, abs=1e-5)


def test_nonfinite_values_kept_and_counted():
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    x, y = torch.ones(4, 1), torch.zeros(4)
    direction = {"weight": torch.full((1, 1), 2.0)}  # weights -1, 0, 1, 2, 3

    def log_output(out: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
        return torch.log(out).mean()

    line = loss_line(model, log_output, (x, y), direction, steps=5)
    assert np.isnan(line.values[0]) and line.values[1] == -np.inf
    np.testing.assert_allclose(line.values[2:], np.log([1.0, 2.0, 3.0]), rtol=1e-6)
    assert line.n_nonfinite == 2
    assert np.isnan(loss_barrier(line))


def test_even_steps_warn_and_bad_arguments(tiny):
    model, (x, y) = tiny.make_mlp(), tiny.make_data()
    dirs = random_directions(model, 2)
    with pytest.warns(UserWarning, match="odd"):
        loss_plane(model, F.cross_entropy, (x, y), dirs, steps=4)
    with pytest.raises(InputError, match="exactly 2"):
        loss_plane(model, F.cross_entropy, (x, y), dirs[:1])
    with pytest.raises(InputError, match="span"):
        loss_line(model, F.cross_entropy, (x, y), dirs[0], span=(1.0, -1.0))
    with pytest.raises(InputError, match="strategy"):
        loss_line(model, F.cross_entropy, (x, y), dirs[0], strategy="fast")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"directions\[0\]"):
        loss_line(model, F.cross_entropy, (x, y), {"4.bias": torch.zeros(3)})


class _PicklingExecutor:
    """Runs items in-process after a pickle round trip, as a worker process would receive them."""

    workers = 3

    def __init__(self) -> None:
        self.devices: list[str | None] = []

    def map(self, fn, items):
        items = [pickle.loads(pickle.dumps(item)) for item in items]
        self.devices += [item.options.device for item in items]
        return [fn(item) for item in items]


def test_executor_chunks_match_in_process(tiny):
    model, (x, y) = tiny.make_mlp(), tiny.make_data()
    dirs = random_directions(model, 2)
    local = loss_plane(model, F.cross_entropy, (x, y), dirs, steps=5)
    pooled = loss_plane(model, F.cross_entropy, (x, y), dirs, steps=5, executor=_PicklingExecutor())
    assert np.abs(local.values - pooled.values).max() <= 1e-6
    assert pooled.center_loss == pytest.approx(local.center_loss, abs=1e-7)


def test_device_list_spreads_chunks_over_devices(tiny):
    model, (x, y) = tiny.make_mlp(), tiny.make_data()
    dirs = random_directions(model, 2)
    local = loss_plane(model, F.cross_entropy, (x, y), dirs, steps=5)
    executor = _PicklingExecutor()
    spread = loss_plane(
        model, F.cross_entropy, (x, y), dirs, steps=5, executor=executor, device=["cpu", "cpu:0"]
    )
    assert executor.devices == ["cpu", "cpu:0", "cpu"]  # three workers, devices in turn
    assert spread.device == "cpu,cpu:0"
    assert np.abs(local.values - spread.values).max() <= 1e-6
    with pytest.raises(InputError, match="need an executor"):
        loss_plane(model, F.cross_entropy, (x, y), dirs, steps=3, device=["cpu", "cpu"])
    with pytest.raises(InputError, match="empty list of devices"):
        loss_plane(model, F.cross_entropy, (x, y), dirs, steps=3, device=[], executor=executor)


class _SmallCNN(nn.Module):
    """Conv-BN-ReLU-Conv-pool-head; ``flatten`` works on channels-last activations, ``view`` not."""

    def __init__(self, use_view: bool = False) -> None:
        super().__init__()
        self.use_view = use_view
        self.features = nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Conv2d(4, 6, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Linear(6 * 3 * 3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        return self.head(h.view(h.shape[0], -1) if self.use_view else h.flatten(1))


@pytest.mark.parametrize(
    ("use_view", "channels_last", "expected"),
    [
        (False, False, "loop+affine"),
        (False, True, "loop+affine+channels_last"),
        (False, None, "+affine"),  # auto: either layout may win the timing
        (True, None, "+affine"),  # the channels-last loop cannot run `view`: it drops out
        (False, "auto-forced", "+affine+channels_last"),  # auto never overrides an explicit True
    ],
)
def test_image_layouts_equal_plain_eval_loop(tiny, use_view, channels_last, expected):
    torch.manual_seed(0)
    model = _SmallCNN(use_view).train()
    snap = tiny.snapshot(model)
    x, y = torch.randn(12, 2, 6, 6), torch.randint(0, 3, (12,))
    dirs = random_directions(model, 2, generator=torch.Generator().manual_seed(1))
    strategy = "loop" if channels_last in (True, False) else "auto"
    if channels_last == "auto-forced":
        channels_last = True
    surface = loss_plane(
        model,
        F.cross_entropy,
        (x, y),
        dirs,
        steps=9,
        strategy=strategy,
        channels_last=channels_last,
        points_per_batch=2,
    )
    ref = _plane_reference(model, x, y, dirs, surface)
    assert np.abs(surface.values - ref).max() <= 1e-5
    assert expected in surface.strategy
    if use_view:
        # the loop cannot `view` channels-last activations, so that candidate drops out; under
        # vmap the batched view works and may win the timing
        assert surface.strategy != "loop+affine+channels_last"
        with pytest.raises(InputError, match=r"channels_last=True: .*view"):
            loss_plane(model, F.cross_entropy, (x, y), dirs, steps=3, channels_last=True)
    tiny.assert_unchanged(model, snap)


def test_cpu_workers_use_cache_sized_chunks_with_equal_values():
    from axionlab.landscape.surface import _cache_sized_batch

    torch.manual_seed(0)
    wide = nn.Sequential(nn.Linear(5, 8192), nn.ReLU(), nn.Linear(8192, 3))  # 32 KiB / example
    narrow = nn.Sequential(nn.Linear(5, 256), nn.ReLU(), nn.Linear(256, 3))  # 1 KiB / example
    x, y = torch.randn(300, 5), torch.randint(0, 3, (300,))
    assert _cache_sized_batch(wide, x) == 64  # 1 MiB / 32 KiB = 32, raised to the minimum
    assert _cache_sized_batch(narrow, x) == 300  # 1024 fit: all of them
    dirs = random_directions(wide, 2, generator=torch.Generator().manual_seed(0))
    local = loss_plane(wide, F.cross_entropy, (x, y), dirs, steps=5)
    pooled = loss_plane(wide, F.cross_entropy, (x, y), dirs, steps=5, executor=_PicklingExecutor())
    assert np.abs(local.values - pooled.values).max() <= 1e-6
