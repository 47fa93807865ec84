"""Time one noisy application step on an n-qubit density matrix: axionlab.quantum vs QuTiP.

One step = a Haar single-qubit gate on every qubit, CNOT on the pairs (0, 1), (2, 3), ..., then
a depolarizing channel (p = 0.01) on every qubit. axionlab acts on the (2,) * 2n tensor view;
QuTiP uses its own efficient route: gates and Kraus operators expanded once to sparse (CSR)
full-space operators with ``expand_operator``, applied to a dense ``Qobj`` density matrix as
``K ρ K†`` products (operator construction is outside the timed region). Both start from the same
state and the final states are compared.

    python benchmarks/quantum.py --qubits 4 6 8 10 11 12 --qutip-max 10 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import reduce

import numpy as np
import torch

from axionlab.quantum import (
    Layer,
    cnot,
    depolarizing_kraus,
    haar_unitary,
    kraus_superoperator,
    plus_state,
    run_sequence,
)


def make_layer(n: int, gen: torch.Generator) -> Layer:
    pairs = tuple((q, q + 1) for q in range(0, n - 1, 2))
    gate = cnot().expand(len(pairs), 4, 4)
    return Layer(haar_unitary(2, gen, batch_shape=(n,)), pairs, gate)


def qutip_step(layer: Layer, p: float) -> Callable[[object], object]:
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
            for k in depolarizing_kraus(p)
        ]
        for q in range(n)
    ]
    gates_dag = [g.dag() for g in gates]
    kraus_dag = [[k.dag() for k in ks] for ks in kraus]

    def step(rho: object) -> object:
        for g, gd in zip(gates, gates_dag, strict=True):
            rho = g @ rho @ gd
        for ks, kds in zip(kraus, kraus_dag, strict=True):
            rho = reduce(lambda a, b: a + b, [k @ rho @ kd for k, kd in zip(ks, kds, strict=True)])
        return rho

    return step


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--qubits", type=int, nargs="+", default=[4, 6, 8, 10, 12])
    parser.add_argument("--qutip-max", type=int, default=10, help="largest n timed with QuTiP")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    p = 0.01
    sup = kraus_superoperator(depolarizing_kraus(p)).to(args.device)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}")
    print("| n | d | axionlab s/step | QuTiP s/step | QuTiP / axionlab | max abs diff |")
    print("|---|---|---|---|---|---|")
    for n in args.qubits:
        gen = torch.Generator().manual_seed(n)
        layer = make_layer(n, gen)
        psi = plus_state(n)
        rho0 = (psi.unsqueeze(1) * psi.conj().unsqueeze(0)).to(args.device)
        dev_layer = Layer(layer.single.to(args.device), layer.pairs, layer.two.to(args.device))

        def ours(r: torch.Tensor = rho0, lay: Layer = dev_layer) -> torch.Tensor:
            out = run_sequence(r, [lay], [0], sup)
            if out.is_cuda:
                torch.cuda.synchronize()
            return out

        t_ours, rho_ours = timed(ours, args.repeats)
        row = f"| {n} | {2**n} | {t_ours:.4f} |"
        if n <= args.qutip_max:
            import qutip

            step = qutip_step(layer, p)
            q0 = qutip.Qobj(rho0.cpu().numpy(), dims=[[2] * n, [2] * n])
            t_qt, rho_qt = timed(lambda s=step, r=q0: s(r), args.repeats)
            diff = np.abs(rho_qt.full() - rho_ours.cpu().numpy()).max()
            row += f" {t_qt:.4f} | {t_qt / t_ours:.1f} | {diff:.1e} |"
        else:
            row += " not run | | |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
