"""Wall and CPU time of exact IIT 3.0 Φ (axionlab.phi.iit_phi) for 3-6 nodes, and PyPhi.

Networks: the three 3-node reference systems, then random logic networks (each node a random
Boolean function of all nodes, seeded through axionlab.repro) in a reachable state. PyPhi 1.2.0
is timed only when asked (``--pyphi``) and importable; it needs a shim for Python ≥ 3.10 (see
docs/benchmarks/phi.md). Each row carries wall seconds, CPU seconds of this process
(``time.process_time``, all its threads) and the 1-minute load average when it finished.

    python benchmarks/phi.py [--max-nodes 6] [--pyphi] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable

import numpy as np

from axionlab.phi import all_states, iit_phi
from axionlab.repro import numpy_rng


def _logic(*gates: Callable[[np.ndarray], int]) -> np.ndarray:
    return np.array([[g(s) for g in gates] for s in all_states(len(gates))], dtype=float)


def _cases(max_nodes: int) -> list[tuple[str, np.ndarray, tuple[int, ...]]]:
    cases = [
        (
            "basic (3)",
            _logic(lambda s: s[1] | s[2], lambda s: s[2], lambda s: s[0] ^ s[1]),
            (1, 0, 0),
        ),
        (
            "xor (3)",
            _logic(lambda s: s[1] ^ s[2], lambda s: s[0] ^ s[2], lambda s: s[0] ^ s[1]),
            (0, 0, 0),
        ),
        (
            "fig4 (3)",
            _logic(lambda s: s[1] | s[2], lambda s: s[0] & s[2], lambda s: s[0] ^ s[1]),
            (1, 0, 0),
        ),
    ]
    for n in range(4, max_nodes + 1):
        rng = numpy_rng(0, "benchmark", "phi", n)
        tpm = rng.integers(0, 2, size=(2**n, n)).astype(float)
        state = tuple(int(v) for v in tpm[int(rng.integers(2**n))])  # a reachable state
        cases.append((f"random logic ({n})", tpm, state))
    return cases


def _pyphi_phi(tpm: np.ndarray, state: tuple[int, ...]) -> float:
    import collections
    import collections.abc

    # PyPhi 1.2.0 imports ABCs from `collections`, removed in Python 3.10
    for name in ("Iterable", "Mapping", "Sequence", "Hashable"):
        setattr(collections, name, getattr(collections.abc, name))
    import pyphi

    pyphi.config.PARALLEL_CUT_EVALUATION = False
    pyphi.config.PARALLEL_CONCEPT_EVALUATION = False
    network = pyphi.Network(tpm)
    return float(pyphi.compute.phi(pyphi.Subsystem(network, state)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-nodes", type=int, default=6)
    parser.add_argument("--pyphi", action="store_true", help="also time PyPhi 1.2.0")
    parser.add_argument("--pyphi-max-nodes", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = []
    for name, tpm, state in _cases(args.max_nodes):
        start, cpu = time.perf_counter(), time.process_time()
        res = iit_phi(tpm, state)
        row = {
            "system": name,
            "state": state,
            "phi": res.phi,
            "seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu,
            "load_average": os.getloadavg()[0],
            "concepts": len(res.concepts),
        }
        if args.pyphi and tpm.shape[1] <= args.pyphi_max_nodes:
            start = time.perf_counter()
            row["pyphi_phi"] = _pyphi_phi(tpm, state)
            row["pyphi_seconds"] = time.perf_counter() - start
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
