"""Time one noisy layer on an n-qubit density matrix: axionlab.quantum vs QuTiP, and vs bandwidth.

One layer = a Haar single-qubit gate on every qubit, CNOT on the pairs (0, 1), (2, 3), ..., then a
depolarizing channel (p = 0.01) on every qubit. Columns, per n (median of ``--repeats``):

- fused: axionlab's per-layer cost in a sequence, ``apply_fused`` on the state's Pauli coordinates
  (the layer fused once, outside the timed region, as QuTiP's operators are built outside it);
- batched: the same per system, ``--batch`` independent systems in one call (n <= ``--batch-max``);
- one call: ``run_sequence`` from ρ to ρ for a single layer: fusion and both conversions included;
- unfused: the previous tensor path (``apply_layer``, then the channel's superoperator qubit by
  qubit on the (2,) * 2n view of ρ), n <= ``--unfused-max``;
- QuTiP: gates and Kraus operators expanded once to sparse full-space operators with
  ``expand_operator``, applied to a dense ``Qobj`` as ``K ρ K†`` (n <= ``--qutip-max``).

The memory bandwidth is measured in the same run: the best of 5 copies of a 4^12-element
complex128 tensor (the 268 MB of a 12-qubit ρ), read + written bytes per second (STREAM's count, the
write-allocate read not counted). The bandwidth limit of a layer is ``passes × 2 × 16 · 4^n`` bytes
over that rate: one pass (read ρ once, write it once) is the least any layer needs; two passes is
the least for a layer that couples all 2n index bits while a cache holds fewer than half of them
(out-of-core transforms need ⌈log N / log M⌉ passes).

    python benchmarks/quantum.py --qubits 2 3 4 5 6 7 8 9 10 11 12 --qutip-max 10 --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from functools import reduce
from typing import Any, TypeVar

import numpy as np
import torch

from axionlab.quantum import (
    FusedLayer,
    Layer,
    apply_fused,
    apply_layer,
    apply_local_superoperator,
    cnot,
    density_matrix,
    depolarizing_kraus,
    from_pauli,
    fuse_layer,
    haar_unitary,
    kraus_superoperator,
    plus_state,
    run_sequence,
    to_pauli,
)

P = 0.01
T = TypeVar("T")


def make_layer(n: int, gen: torch.Generator) -> Layer:
    pairs = tuple((q, q + 1) for q in range(0, n - 1, 2))
    gate = cnot().expand(len(pairs), 4, 4)
    return Layer(haar_unitary(2, gen, batch_shape=(n,)), pairs, gate)


def qutip_step(layer: Layer) -> Callable[[Any], Any]:
    import qutip

    n = layer.n_qubits
    dims = [2] * n
    gates = [
        qutip.expand_operator(qutip.Qobj(u.numpy()), dims=dims, targets=[q])
        for q, u in enumerate(layer.single)
    ]
    gates += [
        qutip.expand_operator(
            qutip.Qobj(g.numpy(), dims=[[2, 2], [2, 2]]), dims=dims, targets=list(pr)
        )
        for pr, g in zip(layer.pairs, layer.two, strict=True)
    ]
    kraus = [
        [
            qutip.expand_operator(qutip.Qobj(k.numpy()), dims=dims, targets=[q])
            for k in depolarizing_kraus(P)
        ]
        for q in range(n)
    ]
    gates_dag = [g.dag() for g in gates]
    kraus_dag = [[k.dag() for k in ks] for ks in kraus]

    def step(rho: Any) -> Any:
        for g, gd in zip(gates, gates_dag, strict=True):
            rho = g @ rho @ gd
        for ks, kds in zip(kraus, kraus_dag, strict=True):
            rho = reduce(lambda a, b: a + b, [k @ rho @ kd for k, kd in zip(ks, kds, strict=True)])
        return rho

    return step


def unfused(rho: torch.Tensor, layer: Layer, superop: torch.Tensor) -> torch.Tensor:
    rho = apply_layer(rho, layer)
    for q in range(layer.n_qubits):
        rho = apply_local_superoperator(rho, superop, [q], layer.n_qubits)
    return rho


def timed(fn: Callable[[], T], repeats: int) -> tuple[float, T]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def timed_fused(r: torch.Tensor, fused: FusedLayer, repeats: int) -> tuple[float, torch.Tensor]:
    # apply_fused consumes its input (large states are updated in place): each repeat gets a
    # fresh copy made outside the timed region.
    copies = [r.clone() for _ in range(repeats)]
    return timed(lambda: apply_fused(copies.pop(), fused), repeats)


def copy_bandwidth(n: int) -> float:
    """Bytes read + written per second by a copy of a 4^n-element complex128 tensor."""
    src = torch.ones(4**n, dtype=torch.complex128)
    dst = torch.empty_like(src)
    best = min(timed(lambda: dst.copy_(src), 1)[0] for _ in range(5))
    return 2 * src.numel() * src.element_size() / best


def row(n: int, args: argparse.Namespace, sup: torch.Tensor) -> dict[str, float]:
    layer = make_layer(n, torch.Generator().manual_seed(n))
    rho0 = density_matrix(plus_state(n))
    t_fuse, fused = timed(lambda: fuse_layer(layer, sup), args.repeats)
    r0 = to_pauli(rho0).unsqueeze(0)
    t_fused, r1 = timed_fused(r0, fused, args.repeats)
    out = {
        "fused": t_fused,
        "one_call": timed(lambda: run_sequence(rho0, [layer], [0], sup), args.repeats)[0],
        "setup": t_fuse,
    }
    rho1 = from_pauli(r1)[0]
    if n <= args.batch_max:
        batch = r0.expand(args.batch, -1).contiguous()
        out["batched"] = timed_fused(batch, fused, args.repeats)[0] / args.batch
    if n <= args.unfused_max:
        t_old, rho_old = timed(lambda: unfused(rho0, layer, sup), args.repeats)
        out["unfused"] = t_old
        out["diff_unfused"] = float((rho_old - rho1).abs().max())
    if n <= args.qutip_max:
        import qutip

        t_setup, step = timed(lambda: qutip_step(layer), 1)
        out["qutip_setup"] = t_setup
        q0 = qutip.Qobj(rho0.numpy(), dims=[[2] * n, [2] * n])
        t_qt, rho_qt = timed(lambda: step(q0), args.repeats)
        out["qutip"] = t_qt
        out["diff_qutip"] = float(np.abs(rho_qt.full() - rho1.numpy()).max())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--qubits", type=int, nargs="+", default=list(range(2, 13)))
    parser.add_argument("--qutip-max", type=int, default=10, help="largest n timed with QuTiP")
    parser.add_argument("--unfused-max", type=int, default=10, help="largest n, unfused path")
    parser.add_argument("--batch", type=int, default=64, help="systems in the batched column")
    parser.add_argument("--batch-max", type=int, default=8, help="largest n, batched column")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    sup = kraus_superoperator(depolarizing_kraus(P))
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, load {os.getloadavg()}")
    bandwidth = copy_bandwidth(12)
    print(f"copy bandwidth: {bandwidth / 1e9:.1f} GB/s (read + write)")
    print(
        "| n | fused s/layer | batched s/layer/system | one call s | unfused s/layer "
        "| QuTiP s/layer | QuTiP / fused | setup s: fuse, QuTiP | max diff vs QuTiP, unfused |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n in args.qubits:
        r = row(n, args, sup)

        def cell(key: str, fmt: str = ".2e", r: dict[str, float] = r) -> str:
            return format(r[key], fmt) if key in r else "-"

        ratio = f"{r['qutip'] / r['fused']:.0f}" if "qutip" in r else "-"
        print(
            f"| {n} | {cell('fused')} | {cell('batched')} | {cell('one_call')} "
            f"| {cell('unfused')} | {cell('qutip')} | {ratio} "
            f"| {cell('setup')}, {cell('qutip_setup')} "
            f"| {cell('diff_qutip', '.0e')}, {cell('diff_unfused', '.0e')} |",
            flush=True,
        )
        if n == max(args.qubits):
            floor = 2 * 16 * 4**n / bandwidth
            print(
                f"\n{n} qubits: {r['fused']:.3f} s per layer; bandwidth limit "
                f"{floor:.3f} s for one pass ({r['fused'] / floor:.1f}x), "
                f"{2 * floor:.3f} s for two ({r['fused'] / (2 * floor):.1f}x)"
            )
    print(f"load {os.getloadavg()}")


if __name__ == "__main__":
    main()
