"""Split-digits continual-learning benchmark (run by hand, never in tests).

    python benchmarks/continual_split_digits.py [--seeds 0 1 2] [--epochs 10] [--csv out.csv]

Five tasks of two scikit-learn digit classes each ({0,1}, {2,3}, ...), MLP 64-100-100 built by
``build_model("mlp", ...)``, Adam lr 1e-3, batch 128, ``--epochs`` per task, every strategy under
class-, domain- and task-incremental scenarios. Prints one markdown table of the final average
accuracy (%) as mean ± 95% t-interval over the seeds, and writes one row per run with ``--csv``.
Each run is one call of :func:`axionlab.continual.run_continual`.
"""

from __future__ import annotations

import argparse
import csv
import time
from typing import Any

import torch

from axionlab.continual import ContinualResult, run_continual
from axionlab.data import load_dataset
from axionlab.stats.summary import mean_ci
from axionlab.train import TrainConfig

SCENARIOS = ("task_il", "domain_il", "class_il")

# Strengths: the best sum of task- and domain-IL average accuracy on seeds 100-101 (never the
# reported seeds) over EWC/online EWC {1e2|1e3, 1e3, 1e4}, SI and MAS {0.1, 1, 10}, L2 {0.01, 0.1,
# 1}, LwF alpha {1, 3}; differences between the candidates were within seed noise.
# Table label -> (registered strategy, options).
STRATEGIES: dict[str, tuple[str, dict[str, Any]]] = {
    "naive": ("naive", {}),
    "ewc": ("ewc", {"strength": 1e4, "fisher": "empirical"}),
    "online_ewc": ("online_ewc", {"strength": 1e4, "gamma": 1.0}),
    "si": ("si", {"strength": 1.0}),
    "mas": ("mas", {"strength": 1.0}),
    "l2": ("l2", {"strength": 0.01}),
    "lwf": ("lwf", {"alpha": 1.0, "temperature": 2.0}),
    "replay (100)": ("replay", {"memory": 100}),
    "replay (100, balanced)": ("replay", {"memory": 100, "balance": True}),
    "joint": ("joint", {}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--csv", default=None, help="write one row per run here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    dataset = load_dataset("digits")
    config = TrainConfig(optimizer="adam", lr=1e-3, epochs=args.epochs, batch_size=128)
    results: list[tuple[str, ContinualResult]] = []
    start = time.perf_counter()
    for label, (name, options) in STRATEGIES.items():
        for scenario in SCENARIOS:
            for seed in args.seeds:
                results.append(
                    (
                        label,
                        run_continual(
                            dataset,
                            scenario=scenario,  # type: ignore[arg-type]
                            strategy=name,
                            n_tasks=5,
                            train_config=config,
                            seed=seed,
                            model_options={"width": 100, "depth": 2},
                            strategy_options=options,
                        ),
                    )
                )
    elapsed = time.perf_counter() - start

    print(
        f"Split-digits, 5×2 classes, {args.epochs} epochs/task, seeds {args.seeds}, "
        f"{elapsed:.0f} s on {args.threads} thread(s)\n"
    )
    print("| strategy | " + " | ".join(SCENARIOS) + " |")
    print("|---" * (len(SCENARIOS) + 1) + "|")
    for label in STRATEGIES:
        cells = []
        for scenario in SCENARIOS:
            accs = [r.avg_acc for lab, r in results if lab == label and r.scenario == scenario]
            mean, _, high, _ = mean_ci(accs)
            cells.append(f"{100 * mean:.1f} ± {100 * (high - mean):.1f}")
        print(f"| {label} | " + " | ".join(cells) + " |")

    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["label", *results[0][1].as_row()])
            writer.writeheader()
            for label, r in results:
                writer.writerow({"label": label, **r.as_row()})


if __name__ == "__main__":
    main()
