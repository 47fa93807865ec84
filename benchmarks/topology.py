"""Sublevel persistence (H0 + H1, T-construction) of a 2-D grid: axionlab vs GUDHI vs cripser.

Every (tool, size) runs in a fresh subprocess, so peak memory is attributable: "extra MB" is the
peak RSS during the call minus the RSS just before it (input and imports already in memory). CPU
seconds are ``time.process_time`` of the call. "First call" rows include loading (or compiling)
the numba kernels. Input: i.i.d. uniform noise (the most pairs per cell, the
hardest case for union-find). The legacy row is the lab's published pipeline (Ripser on the
8-neighbour graph, diagonal 0) with a vectorised graph build; Ripser refuses H1 above ~774^2.

    python benchmarks/topology.py            # 51, 501, 2001
    python benchmarks/topology.py 51 501 2001 4001
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

TOOLS = {
    "axionlab (warm)": "axionlab",
    "axionlab (first call, JIT cache on disk)": "axionlab-first",
    "axionlab (first call, JIT compile)": "axionlab-compile",
    "GUDHI CubicalComplex T": "gudhi-top",
    "GUDHI CubicalComplex V": "gudhi-vertex",
    "cripser computePH_T": "cripser",
    "legacy Ripser grid graph": "legacy",
}


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _import(tool: str) -> None:
    """Import the tool's modules so that the timed call measures computation only."""
    if tool.startswith("gudhi"):
        import gudhi  # noqa: F401
    elif tool == "cripser":
        import cripser  # noqa: F401
    else:
        import ripser  # noqa: F401

        import axionlab.topology  # noqa: F401


def _call(tool: str, values: np.ndarray) -> int:
    if tool.startswith("axionlab"):
        from axionlab.topology import sublevel_persistence

        return sum(len(d) for d in sublevel_persistence(values))
    if tool.startswith("gudhi"):
        import gudhi

        key = "top_dimensional_cells" if tool == "gudhi-top" else "vertices"
        cc = gudhi.CubicalComplex(**{key: values})
        return len(cc.persistence(min_persistence=0.0))
    if tool == "cripser":
        import cripser

        return int((cripser.computePH_T(values, maxdim=1)[:, 0] >= 0).sum())
    from axionlab.topology import grid_graph_persistence

    return sum(len(d) for d in grid_graph_persistence(values, vertex_births=False))


def worker(tool: str, side: int) -> None:
    """Time one call in this (fresh) process and print a JSON line."""
    values = np.random.default_rng(0).random((side, side))
    _import(tool)
    if tool == "axionlab":  # warm: JIT and caches ready, then measure a second call
        _call(tool, values)
    before = _rss_mb()
    start = time.process_time()
    pairs = _call(tool, values)
    cpu = time.process_time() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"cpu_s": cpu, "extra_mb": max(peak - before, 0.0), "pairs": pairs}))


def main(sides: list[int]) -> None:
    print(f"| tool | {' | '.join(f'{s}² CPU-s / extra MB' for s in sides)} |")
    print(f"|---|{'---|' * len(sides)}")
    for label, tool in TOOLS.items():
        cells = []
        for side in sides:
            if (tool == "legacy" and side > 774) or (tool == "axionlab-compile" and side > 51):
                cells.append("n/a")
                continue
            env = dict(os.environ)
            if tool == "axionlab-compile":
                env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp()
            out = subprocess.run(
                [sys.executable, __file__, "--worker", tool, str(side)],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            if out.returncode != 0:
                cells.append("failed")
                print(out.stderr[-500:], file=sys.stderr)
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            cells.append(f"{r['cpu_s']:.3f} / {r['extra_mb']:.0f}")
        print(f"| {label} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]))
    else:
        main([int(a) for a in sys.argv[1:]] or [51, 501, 2001])
