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
from axionlab.models import SMALL_MODELS, build_model
from axionlab.repro import torch_generator


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
        (False, None, ""),  # auto: either path (affine or not, either layout) may win the timing
        (True, None, ""),  # the channels-last loop cannot run `view`: it drops out
        (False, "auto-forced", "+channels_last"),  # auto never overrides an explicit True
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
    if strategy == "auto":
        assert surface.strategy in {
            f"{name}{affine}{layout}"
            for name in ("loop", "vmap")
            for affine in ("", "+affine")
            for layout in ("", "+channels_last")
        }
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


def _bn_mlp(track: bool = True) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(5, 8),
        nn.BatchNorm1d(8, track_running_stats=track),
        nn.Dropout(0.3),
        nn.ReLU(),
        nn.Linear(8, 3),
    )
    with torch.no_grad():
        model[1].weight.uniform_(0.5, 1.5)
        if track:
            model[1].running_mean.uniform_(-0.2, 0.2)
            model[1].running_var.uniform_(0.5, 1.5)
    return model


@pytest.mark.parametrize(
    ("track", "ignore_1d", "chain"),
    [
        (True, True, ["1", "2"]),  # BatchNorm off every direction, then dropout: absorbed
        (True, False, []),  # BatchNorm's weight moves: the prefix stops at the Linear
        (False, True, []),  # batch statistics even in eval mode: not affine per example
    ],
)
def test_affine_prefix_absorbs_fixed_batchnorm_and_dropout(tiny, track, ignore_1d, chain):
    from axionlab.landscape._common import eval_semantics
    from axionlab.landscape.surface import _Evaluator, _Options, _Task

    model = _bn_mlp(track)
    x, y = tiny.make_data()
    dirs = random_directions(
        model, 2, ignore_1d=ignore_1d, generator=torch.Generator().manual_seed(3)
    )
    options = _Options(None, None, "loop", True, None, None, None, False)
    center = {n: p.detach() for n, p in model.named_parameters()}
    task = _Task(model, F.cross_entropy, x, y, center, dirs, np.zeros((1, 2)), options, False)
    with eval_semantics(model), torch.no_grad():
        evaluator = _Evaluator(task, torch.device("cpu"))
    assert evaluator.path.affine
    rest_modules = {name for name, _ in evaluator.path.module.named_children()}
    assert not set(chain) & rest_modules and (chain or "1" in rest_modules)
    surface = loss_plane(model, F.cross_entropy, (x, y), dirs, steps=5, strategy="loop")
    ref = _plane_reference(model, x, y, dirs, surface)
    assert np.abs(surface.values - ref).max() <= 1e-5
    assert surface.strategy == "loop+affine"


def test_auto_decision_is_reused_and_retuned_when_it_no_longer_runs(tiny, monkeypatch):
    from axionlab.landscape import surface as surface_module

    monkeypatch.setattr(surface_module, "_DECISIONS", {})
    x, y = torch.randn(12, 2, 6, 6), torch.randint(0, 3, (12,))
    runs_nhwc, needs_nchw = _SmallCNN(use_view=False), _SmallCNN(use_view=True)
    needs_nchw.load_state_dict(runs_nhwc.state_dict())
    dirs = random_directions(runs_nhwc, 2, generator=torch.Generator().manual_seed(1))
    first = loss_plane(runs_nhwc, F.cross_entropy, (x, y), dirs, steps=9, points_per_batch=2)
    (key,) = surface_module._DECISIONS
    decision = surface_module._DECISIONS[key]
    again = loss_plane(runs_nhwc, F.cross_entropy, (x, y), dirs, steps=9, points_per_batch=2)
    assert again.strategy == first.strategy and surface_module._DECISIONS == {key: decision}
    np.testing.assert_allclose(again.values, first.values, rtol=0, atol=1e-6)
    # same structure, but `view` fails on channels-last activations: a cached channels-last
    # loop is dropped and the grid tuned afresh, with the plain-loop values
    paths = [(a, c) for a in (True, False) for c in (False, True)]
    surface_module._DECISIONS[key] = ("loop", paths.index((True, True)))
    other = loss_plane(needs_nchw, F.cross_entropy, (x, y), dirs, steps=9, points_per_batch=2)
    assert other.strategy != "loop+affine+channels_last"
    assert np.abs(other.values - _plane_reference(needs_nchw, x, y, dirs, other)).max() <= 1e-5


def test_auto_does_not_try_vmap_where_its_trial_would_not_pay(tiny, monkeypatch):
    from axionlab.landscape import surface as surface_module

    monkeypatch.setattr(surface_module, "_DECISIONS", {})
    monkeypatch.setattr(surface_module, "_VMAP_MIN_DISPATCH_SHARE", 0.0)  # always worth a try
    model, (x, y) = tiny.make_mlp(), tiny.make_data()
    dirs = random_directions(model, 2, generator=torch.Generator().manual_seed(2))
    # 2 vmap batches of 8 points exceed 5% of a 9×9 grid: the loop, undecided for later grids
    small = loss_plane(model, F.cross_entropy, (x, y), dirs, steps=9)
    assert small.strategy.startswith("loop") and surface_module._DECISIONS == {}
    large = loss_plane(model, F.cross_entropy, (x, y), dirs, steps=19)  # 361 points: tried
    assert len(surface_module._DECISIONS) == 1
    assert np.abs(large.values - _plane_reference(model, x, y, dirs, large)).max() <= 1e-5


@pytest.mark.parametrize("name", SMALL_MODELS)
@pytest.mark.parametrize("strategy", ["loop", "auto"])
def test_zoo_planes_equal_plain_eval_loop(tiny, name, strategy):
    """Every small zoo model (patch embeddings, depthwise convs, attention, residuals): the
    affine prefix, the planned loop and the tuner's paths keep the plain loop's values."""
    model = build_model(name, (3, 8, 8), 4, generator=torch_generator(0, name))
    gen = torch.Generator().manual_seed(5)
    # stored channels-last, as a data pipeline may hand it over: convs then return such strides
    x = torch.randn(6, 8, 8, 3, generator=gen).permute(0, 3, 1, 2)
    y = torch.randint(0, 4, (6,), generator=gen)
    snap = tiny.snapshot(model)
    dirs = random_directions(model, 2, generator=torch.Generator().manual_seed(1))
    surface = loss_plane(model, F.cross_entropy, (x, y), dirs, steps=5, strategy=strategy)
    ref = _plane_reference(model, x, y, dirs, surface)
    assert np.abs(surface.values - ref).max() <= 1e-5 * max(1.0, np.abs(ref).max())
    tiny.assert_unchanged(model, snap)


class _ConvNet(nn.Module):
    """Conv → BN → ReLU (in place), then eval dropout hands back its input, which a skip reads
    again: the ReLU after the dropout must not overwrite it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv2d(1, 2, 2), nn.BatchNorm2d(2)
        self.drop, self.head = nn.Dropout(0.5), nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.conv(x.view(-1, 1, 3, 3))))
        g = self.drop(h)
        return self.head((torch.relu(g - 0.1) + h).flatten(1) + self.drop(h).relu().flatten(1))


class _Residual(nn.Module):
    """A Linear output read twice (ReLU and the skip): its ReLU must not run in place."""

    def __init__(self) -> None:
        super().__init__()
        self.inp, self.mid, self.out = nn.Linear(5, 8), nn.Linear(8, 8), nn.Linear(8, 3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(x @ torch.ones(5, 5) + x)  # not a Linear: allocated as usual
        a = self.inp(h)
        b = self.mid(F.relu(a)) + a
        return self.out(b.relu())


@pytest.mark.parametrize(
    "make",
    [lambda: nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)), _Residual, _ConvNet],
)
def test_planned_loop_module_is_bitwise_the_model(make):
    from axionlab.landscape.surface import _planned

    torch.manual_seed(0)
    model = make().eval()
    planned = _planned(model, owns_input=False)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        outputs = []
        for n in (7, 7, 4):  # buffers reused, then re-made for another batch size
            x = torch.randn(n, 9 if make is _ConvNet else 5, generator=gen)
            kept = x.clone()
            outputs.append((planned(x), model(x)))
            assert torch.equal(*outputs[-1])
            assert torch.equal(x, kept)  # the input is never written
        assert all(torch.equal(a, b) for a, b in outputs)  # an output is never a reused buffer
    assert not any(type(m).__name__ == "_Into" for m in model.modules())  # model untouched


class _Tied(nn.Module):
    """The first layer's weight tied to a later layer's: the prefix split must not freeze it."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.out = nn.Linear(5, 5), nn.Linear(5, 5), nn.Linear(5, 3)
        self.b.weight = self.a.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(F.relu(self.b(F.relu(self.a(x)))))


@pytest.mark.parametrize("strategy", ["loop", "vmap", "auto"])
def test_tied_first_layer_weights_keep_the_plain_loop_values(tiny, strategy):
    torch.manual_seed(0)
    model = _Tied()
    x, y = tiny.make_data()
    dirs = random_directions(model, 2, generator=torch.Generator().manual_seed(4))
    surface = loss_plane(model, F.cross_entropy, (x, y), dirs, steps=5, strategy=strategy)
    assert np.abs(surface.values - _plane_reference(model, x, y, dirs, surface)).max() <= 1e-5
    assert "+affine" not in surface.strategy


def test_the_loop_runs_the_planned_module(tiny, monkeypatch):
    """Hidden Linear outputs go through kept buffers and F.relu runs in place, per point."""
    from axionlab.landscape import surface as surface_module

    calls = {"into": 0, "relu_": 0}
    into_forward, relu_ = surface_module._Into.forward, torch.Tensor.relu_

    def counted_into(self, *args):
        calls["into"] += 1
        return into_forward(self, *args)

    def counted_relu_(self):
        calls["relu_"] += 1
        return relu_(self)

    monkeypatch.setattr(surface_module._Into, "forward", counted_into)
    monkeypatch.setattr(torch.Tensor, "relu_", counted_relu_)
    model = _Tied()
    x, y = tiny.make_data()
    dirs = random_directions(model, 2, generator=torch.Generator().manual_seed(4))
    surface = loss_plane(model, F.cross_entropy, (x, y), dirs, steps=3, strategy="loop")
    # 9 points + the centre: a and b into buffers, both F.relu on them in place; out is the output
    assert calls == {"into": 2 * 10, "relu_": 2 * 10}
    assert np.abs(surface.values - _plane_reference(model, x, y, dirs, surface)).max() <= 1e-5
