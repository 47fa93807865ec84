"""Reference curvature matvecs from curvlinops on a small CNN (dev-only, run in a side venv).

    python3 -m venv /tmp/refvenv_c
    /tmp/refvenv_c/bin/pip install torch==2.13.0 curvlinops-for-pytorch==3.0.1
    /tmp/refvenv_c/bin/python benchmarks/references/curvlinops_reference.py

writes ``tests/landscape/data/curvlinops_reference.npz``: the CNN's parameters (``param:<name>``),
the data ``x``, ``y``, a fixed vector ``v`` over the flat trainable parameters (in
``named_parameters()`` order, as curvlinops' ``params`` list is given), and curvlinops'
``<kind> @ v`` for Hessian, GGN, empirical Fisher, MC Fisher (``seed``, one sample) and KFAC
(type-2 and empirical, KFAC-expand, weight and bias separate), with the package versions; and,
under ``reduction="sum"``, GGN and type-2 KFAC (``ggn_sum``, ``kfac_type2_sum``: N times ours).
``tests/landscape/test_operators.py`` rebuilds the same CNN from the stored parameters and
compares axionlab's :func:`~axionlab.landscape.operators.curvature_operator` with these values.
Everything is float64, the loss ``CrossEntropyLoss(reduction="mean")``, batches of ``BATCH``.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from curvlinops import (
    EFLinearOperator,
    FisherMCLinearOperator,
    GGNLinearOperator,
    HessianLinearOperator,
    KFACLinearOperator,
)
from torch import nn

OUT = (
    Path(__file__).resolve().parents[2]
    / "tests"
    / "landscape"
    / "data"
    / "curvlinops_reference.npz"
)
BATCH = 7
SEED = 2024


def make_cnn() -> nn.Module:
    """Conv(1→3, 3×3) → ReLU → flatten → Linear(48→4): 226 parameters on 6×6 inputs."""
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(48, 4))


def main() -> None:
    torch.manual_seed(0)
    model = make_cnn().double().eval()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(20, 1, 6, 6, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 4, (20,), generator=gen)
    params = [p for p in model.parameters() if p.requires_grad]
    dim = sum(p.numel() for p in params)
    v = torch.randn(dim, generator=gen, dtype=torch.float64)
    data = [(x[i : i + BATCH], y[i : i + BATCH]) for i in range(0, len(y), BATCH)]
    loss = nn.CrossEntropyLoss(reduction="mean")
    summed = nn.CrossEntropyLoss(reduction="sum")
    common = {"check_deterministic": False}
    ops = {
        "hessian": HessianLinearOperator(model, loss, params, data, **common),
        "ggn": GGNLinearOperator(model, loss, params, data, **common),
        "fisher_empirical": EFLinearOperator(model, loss, params, data, **common),
        "fisher_mc": FisherMCLinearOperator(model, loss, params, data, seed=SEED, **common),
        "kfac_type2": KFACLinearOperator(model, loss, params, data, fisher_type="type-2", **common),
        "kfac_empirical": KFACLinearOperator(
            model, loss, params, data, fisher_type="empirical", **common
        ),
        # reduction="sum": curvlinops' curvature of the summed loss, N times ours
        "ggn_sum": GGNLinearOperator(model, summed, params, data, **common),
        "kfac_type2_sum": KFACLinearOperator(
            model, summed, params, data, fisher_type="type-2", **common
        ),
    }
    arrays = {f"param:{n}": p.detach().numpy() for n, p in model.named_parameters()}
    arrays.update(x=x.numpy(), y=y.numpy(), v=v.numpy(), seed=np.array(SEED))
    for kind, op in ops.items():
        arrays[kind] = (op @ v).detach().numpy()
    versions = {pkg: version(pkg) for pkg in ("curvlinops-for-pytorch", "torch", "numpy")}
    arrays["versions"] = np.array([f"{k}=={v}" for k, v in versions.items()])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez(OUT, **arrays)
    print(f"wrote {OUT}: {sorted(arrays)} with {versions}")


if __name__ == "__main__":
    main()
