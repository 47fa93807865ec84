"""EWC strength conventions: per-example vs batch-mean Fisher on EXP-01's trained task-A models.

    python benchmarks/ewc_fisher.py RUN_DIR [--units mlp-64x2 cnn] [--batch-sizes 32 64 128]

Reads the task-A checkpoints of an EXP-01 run (e.g. ``make demo``'s quick run), rebuilds each
model from the run's config, and computes on the same task-A training examples the empirical
diagonal Fisher trace two ways: per example (axionlab's default, Kirkpatrick et al. 2017) and as
squared gradients of the batch-mean loss averaged over batches (Avalanche's ``EWCPlugin``). The
ratio r_B converts λ between the conventions (table in :mod:`axionlab.continual.strategies`):
Avalanche's λ ≈ axionlab's λ · r_B / 2 (it also drops the ½). Also prints the stability ratio
lr·λ·max F / 2 of EXP-01's task-B SGD step (``axionlab.continual.stability``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from axionlab.landscape import fisher_diagonal, fisher_trace
from axionlab.protocols.exp01.config import Exp01Config
from axionlab.protocols.exp01.protocol import Exp01
from axionlab.protocols.runner import load_config
from axionlab.repro import torch_generator
from axionlab.runs import Run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--units", nargs="+", default=["mlp-64x2", "cnn"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[32, 64, 128])
    parser.add_argument("--examples", type=int, default=900)
    args = parser.parse_args()
    torch.set_num_threads(1)
    run = Run(args.run_dir)
    config = load_config(run.path / "config.yaml")
    if not isinstance(config, Exp01Config):
        raise SystemExit(f"{run.path} is not an EXP-01 run")
    protocol = Exp01()
    strength = 1000.0
    lr = config.task_b.train.lr
    header = " | ".join(f"r_{b}" for b in args.batch_sizes)
    print(f"| model | per-example trace | {header} | max F | lr·λ·max F / 2 (λ = 1000) |")
    print("|---|---|" + "---|" * len(args.batch_sizes) + "---|---|")
    for unit in protocol.plan(config):
        arch = unit.params.architecture.display
        if arch not in args.units:
            continue
        task_a, _ = unit.params.dataset.tasks(unit.seed)
        record = run.completed(unit.id, "task_a")
        if record is None:
            raise SystemExit(f"{unit.id}: task_a is not complete in {run.path}")
        model = unit.params.architecture.load_trained(task_a, unit.seed, record)
        index = torch.randperm(len(task_a.y_train), generator=torch_generator(0, "bench"))
        data = (task_a.x_train[index[: args.examples]], task_a.y_train[index[: args.examples]])
        per_example = fisher_diagonal(model, data)
        trace = fisher_trace(per_example)
        ratios = []
        for b in args.batch_sizes:
            batch_mean = fisher_diagonal(model, data, batch_size=b, estimator="batch_mean")
            ratios.append(trace / fisher_trace(batch_mean))
        max_f = max(float(f.max()) for f in per_example.values())
        cells = " | ".join(f"{r:.1f}" for r in ratios)
        print(f"| {arch} | {trace:.4g} | {cells} | {max_f:.4g} | {lr * strength * max_f / 2:.3g} |")


if __name__ == "__main__":
    main()
