"""Benchmark a loss plane of a GPT-2-small-sized causal LM on CPU (run by hand, never in tests).

    OMP_NUM_THREADS=1 python benchmarks/hf_plane.py [--steps 3] [--sequences 4] [--seq-len 128]
        [--layers 12 --hidden 768 --heads 12 --vocab 50257] [--threads 1]

Builds GPT-2 small from its config (124M parameters, tied embedding/head, random init from a
fixed seed), draws two filter-normalised directions with ``seeded_directions`` and evaluates a
``steps × steps`` plane on random token ids two ways, each in a fresh subprocess so that peak RSS
is its own: axionlab's ``loss_plane`` over the ``HFLogits`` adapter, and the plain loop that
writes θ + a·d₁ + b·d₂ into the model in place and calls ``model(**batch).loss``. Prints a
markdown table: wall seconds of the plane, tokens per second (points × tokens / wall), peak RSS
and the largest deviation from the plain loop.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np
import torch


def _setup(args: argparse.Namespace) -> tuple[Any, Any, Any, list[dict[str, torch.Tensor]]]:
    from axionlab.landscape import HFLogits, seeded_directions
    from axionlab.models import build_model

    config = {
        "model_type": "gpt2",
        "n_layer": args.layers,
        "n_embd": args.hidden,
        "n_head": args.heads,
        "vocab_size": args.vocab,
        "n_positions": 1024,
    }
    gen = torch.Generator().manual_seed(0)
    model = build_model("hf", (args.seq_len,), args.vocab, config=config, generator=gen)
    ids = torch.randint(
        0, args.vocab, (args.sequences, args.seq_len), generator=torch.Generator().manual_seed(1)
    )
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone()}
    probe = HFLogits(model)
    directions = seeded_directions(probe, seed=0, n=2)
    return model, probe, batch, directions


def _plain(model: Any, batch: Any, directions: list[dict[str, torch.Tensor]], axis: Any) -> Any:
    params = dict(model.named_parameters())
    center = {n: p.detach().clone() for n, p in params.items()}
    values = np.empty((len(axis), len(axis)))
    model.eval()
    with torch.no_grad():
        for i, a in enumerate(axis):
            for j, b in enumerate(axis):
                for n, p in params.items():
                    d1, d2 = directions[0][f"model.{n}"], directions[1][f"model.{n}"]
                    p.copy_(center[n] + float(a) * d1 + float(b) * d2)
                values[i, j] = float(model(**batch).loss)
        for n, p in params.items():
            p.copy_(center[n])
    return values


def worker(args: argparse.Namespace) -> None:
    """Run one method and print a JSON record."""
    from axionlab.landscape import loss_plane, probe_data, token_cross_entropy
    from axionlab.models import count_parameters

    torch.set_num_threads(args.threads)
    model, probe, batch, directions = _setup(args)
    axis = np.linspace(-1.0, 1.0, args.steps)
    t0 = time.perf_counter()
    if args.worker == "plain":
        values = _plain(model, batch, directions, axis)
        strategy = "in-place loop"
    else:
        surface = loss_plane(
            probe, token_cross_entropy, probe_data(batch), directions, steps=args.steps
        )
        values, strategy = surface.values, surface.strategy
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record = {
        "params": count_parameters(model),
        "wall": wall,
        "peak_mb": peak_mb,
        "strategy": strategy,
        "values": np.asarray(values).tolist(),
    }
    print(json.dumps(record))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--sequences", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--vocab", type=int, default=50257)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker", choices=("plain", "ours"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    passed = sys.argv[1:]
    results = {}
    for method in ("plain", "ours"):
        out = subprocess.run(
            [sys.executable, __file__, *passed, "--worker", method],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results[method] = json.loads(out.strip().splitlines()[-1])
    reference = np.asarray(results["plain"]["values"])
    points = args.steps**2
    tokens = points * args.sequences * args.seq_len
    print(
        f"GPT-2 {results['plain']['params'] / 1e6:.1f}M parameters, {args.steps}×{args.steps} "
        f"plane, {args.sequences}×{args.seq_len} tokens, {args.threads} thread(s)"
    )
    print("| method | wall s | tokens / s | peak RSS MB | max abs diff |")
    print("|---|---|---|---|---|")
    for method, label in (("plain", "plain in-place loop"), ("ours", "axionlab loss_plane")):
        r = results[method]
        diff = float(np.abs(np.asarray(r["values"]) - reference).max())
        label = label if method == "plain" else f"{label} ({r['strategy']})"
        print(
            f"| {label} | {r['wall']:.1f} | {tokens / r['wall']:.0f} | {r['peak_mb']:.0f} "
            f"| {'–' if method == 'plain' else f'{diff:.1e}'} |"
        )


if __name__ == "__main__":
    main()
