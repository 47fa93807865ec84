"""Sublevel persistence of 2-D and 3-D grids: axionlab vs GUDHI vs cripser, and tiled 10⁸ cells.

Every (tool, size) runs in a fresh subprocess, so peak memory is attributable: "extra MB" is the
peak RSS during the call minus the RSS just before it (input and imports already in memory). CPU
seconds are ``time.process_time`` of the call. "First call" rows include loading (or compiling)
the numba kernels. Input: i.i.d. uniform noise (the most pairs per cell, the hardest case for
union-find). The legacy row is the lab's published pipeline (Ripser on the 8-neighbour graph,
diagonal 0) with a vectorised graph build; Ripser refuses H1 above ~774^2.

    python benchmarks/topology.py                       # 2-D H0 + H1, T-construction: 51, 501, 2001
    python benchmarks/topology.py 51 501 2001 4001
    python benchmarks/topology.py --tiled 4001 10001    # tiled, memmap input, 1 and 2 workers
    python benchmarks/topology.py --3d 201              # 3-D H0-H2, smooth and noise, V and T

``--tiled`` writes the noise grid once to ``$TMPDIR/axionlab_bench/noise_<side>.npy`` and reads
it as ``np.load(..., mmap_mode="r")``. One worker runs in-process; two are a
:class:`~axionlab.execute.ProcessPoolExecutor`, started and warmed up (kernels loaded) before the
timed call. CPU seconds add the workers' user + system time to the driver's; extra MB adds each
process's peak RSS (reset before the call) minus its RSS before it; "merge" is the wall time of the
driver's global merge (:func:`axionlab.topology._tiles.merge_tiles`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

TOOLS = {
    "axionlab (warm)": "axionlab",
    "axionlab vertex (warm)": "axionlab-vertex",
    "axionlab (first call, JIT cache on disk)": "axionlab-first",
    "axionlab (first call, JIT compile)": "axionlab-compile",
    "GUDHI CubicalComplex T": "gudhi-top",
    "GUDHI CubicalComplex V": "gudhi-vertex",
    "cripser computePH_T": "cripser",
    "legacy Ripser grid graph": "legacy",
}
TOOLS_3D = {"axionlab": "axionlab", "GUDHI 3.13": "gudhi", "cripser 0.0.37": "cripser"}


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


def _call(tool: str, values: np.ndarray, construction: str = "top") -> int:
    """Run one tool on ``values`` and return its number of pairs."""
    if tool.startswith("axionlab"):
        from axionlab.topology import sublevel_persistence

        if tool == "axionlab-vertex":
            construction = "vertex"
        return sum(len(d) for d in sublevel_persistence(values, construction=construction))
    if tool.startswith("gudhi"):
        import gudhi

        vertex = tool == "gudhi-vertex" or construction == "vertex"
        cc = gudhi.CubicalComplex(**{"vertices" if vertex else "top_dimensional_cells": values})
        return len(cc.persistence(min_persistence=0.0))
    if tool == "cripser":
        import cripser

        compute = cripser.computePH_T if construction == "top" else cripser.computePH
        return int((compute(values, maxdim=values.ndim - 1)[:, 0] >= 0).sum())
    from axionlab.topology import grid_graph_persistence

    return sum(len(d) for d in grid_graph_persistence(values, vertex_births=False))


def _measure(fn: Callable[[], int]) -> dict[str, float]:
    before = _rss_mb()
    start = time.process_time()
    pairs = fn()
    cpu = time.process_time() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"cpu_s": cpu, "extra_mb": max(peak - before, 0.0), "pairs": pairs}


def worker(tool: str, side: int) -> None:
    """Time one 2-D call in this (fresh) process and print a JSON line."""
    values = np.random.default_rng(0).random((side, side))
    _import(tool)
    if tool in ("axionlab", "axionlab-vertex"):  # warm: JIT and caches ready, then measure
        _call(tool, values)
    print(json.dumps(_measure(lambda: _call(tool, values))))


def grid3d(kind: str, side: int) -> np.ndarray:
    """The 3-D fields of ``docs/benchmarks/landscaper.md`` (part 2)."""
    if kind == "noise":
        return np.random.default_rng(0).random((side,) * 3)
    x, y, z = np.meshgrid(*(np.linspace(0, 6, side),) * 3, indexing="ij")
    jitter = 0.01 * np.random.default_rng(0).random((side,) * 3)
    return np.sin(x) * np.cos(1.3 * y) + np.sin(0.7 * z + x) + jitter


def worker3d(tool: str, kind: str, construction: str, side: int) -> None:
    """Time one 3-D call (axionlab warmed up on a small grid first) and print a JSON line."""
    values = grid3d(kind, side)
    _import(tool)
    if tool == "axionlab":
        _call(tool, grid3d(kind, 9), construction)
    print(json.dumps(_measure(lambda: _call(tool, values, construction))))


def _subprocess(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any] | None:
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        print(out.stderr[-800:], file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(sides: list[int]) -> None:
    print(f"| tool | {' | '.join(f'{s}² CPU-s / extra MB' for s in sides)} |")
    print(f"|---|{'---|' * len(sides)}")
    for label, tool in TOOLS.items():
        cells = []
        for side in sides:
            too_big = side > 2001 and (tool.startswith(("gudhi", "legacy")) or "first" in tool)
            if (tool == "legacy" and side > 774) or (tool == "axionlab-compile" and side > 51):
                too_big = True
            if too_big:
                cells.append("n/a")
                continue
            env = dict(os.environ)
            if tool == "axionlab-compile":
                env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp()
            r = _subprocess(["--worker", tool, str(side)], env)
            cells.append("failed" if r is None else f"{r['cpu_s']:.3f} / {r['extra_mb']:.0f}")
        print(f"| {label} | {' | '.join(cells)} |", flush=True)


def main3d(side: int, tools: list[str]) -> None:
    print(f"| grid {side}³ | construction | {' | '.join(tools)} | pairs |  (CPU-s / extra MB)")
    print(f"|---|---|{'---|' * len(tools)}---|")
    for kind in ("smooth", "noise"):
        for construction in ("vertex", "top"):
            cells, pairs = [], set()
            for label in tools:
                r = _subprocess(["--worker3d", TOOLS_3D[label], kind, construction, str(side)])
                cells.append("failed" if r is None else f"{r['cpu_s']:.1f} / {r['extra_mb']:.0f}")
                if r is not None:
                    pairs.add(r["pairs"])
            print(
                f"| {kind} | {construction} | {' | '.join(cells)} | {sorted(pairs)} |", flush=True
            )


def noise_file(side: int) -> Path:
    """``default_rng(0).random((side, side))`` as a .npy file, written in row blocks."""
    path = Path(tempfile.gettempdir()) / "axionlab_bench" / f"noise_{side}.npy"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        grid = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(side, side))
        rng = np.random.default_rng(0)
        for r in range(0, side, 512):
            grid[r : r + 512] = rng.random((min(512, side - r), side))
        grid.flush()
        del grid
    return path


def _proc(pid: int | str, field: str) -> float:
    """A ``/proc/<pid>/status`` field in MB (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(field))


def worker_tiled(side: int, workers: int, tile: int) -> None:
    """One tiled H0 + H1 call on the memmapped noise grid; print wall, CPU, memory and merge."""
    import psutil

    from axionlab.execute import ProcessPoolExecutor
    from axionlab.topology import _tiles, sublevel_persistence_tiled

    path = noise_file(side)
    values = np.load(path, mmap_mode="r")
    executor = ProcessPoolExecutor(workers=workers)
    warm = np.load(noise_file(601), mmap_mode="r")
    sublevel_persistence_tiled(warm, tile=301, executor=executor)  # start workers, load kernels
    procs = [psutil.Process(), *psutil.Process().children()]
    for p in procs:  # reset each peak RSS (VmHWM) to the current RSS
        with open(f"/proc/{p.pid}/clear_refs", "w") as f:
            f.write("5")
    rss = [_proc(p.pid, "VmRSS") for p in procs]
    cpu = [sum(p.cpu_times()[:2]) for p in procs]
    merge = [0.0, 0.0]
    merge_tiles = _tiles.merge_tiles

    def timed_merge(*args: Any) -> Any:
        start, cpu_start = time.perf_counter(), time.process_time()
        out = merge_tiles(*args)
        merge[0] += time.perf_counter() - start
        merge[1] += time.process_time() - cpu_start
        return out

    _tiles.merge_tiles = timed_merge
    start = time.perf_counter()
    diagrams = sublevel_persistence_tiled(values, tile=tile, executor=executor)
    wall = time.perf_counter() - start
    extra = [_proc(p.pid, "VmHWM") - r for p, r in zip(procs, rss, strict=True)]
    cpu_s = [sum(p.cpu_times()[:2]) - c for p, c in zip(procs, cpu, strict=True)]
    executor.close()
    print(
        json.dumps(
            {
                "wall_s": wall,
                "cpu_s": sum(cpu_s),
                "cpu_s_by_process": cpu_s,
                "extra_mb": sum(extra),
                "extra_mb_by_process": extra,
                "merge_s": merge[0],
                "merge_cpu_s": merge[1],
                "pairs": [len(d) for d in diagrams],
            }
        )
    )


def main_tiled(sides: list[int], workers: list[int], tile: int) -> None:
    print(
        f"| grid | workers | wall s | CPU-s (driver + workers) | peak extra MB (driver + workers) "
        f"| global merge wall s (share) "
        f"| merge CPU-s (share) | pairs H0 / H1 |  (tile {tile})"
    )
    print("|---|---|---|---|---|---|---|---|")
    for side in sides:
        noise_file(side)
        for n in workers:
            r = _subprocess(["--worker-tiled", str(side), str(n), str(tile)])
            if r is None:
                print(f"| {side}² | {n} | failed |", flush=True)
                continue
            share, cpu_share = r["merge_s"] / r["wall_s"], r["merge_cpu_s"] / r["cpu_s"]
            print(
                f"| {side}² | {n} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} "
                f"({' + '.join(f'{c:.1f}' for c in r['cpu_s_by_process'])}) | {r['extra_mb']:.0f} "
                f"({' + '.join(f'{m:.0f}' for m in r['extra_mb_by_process'])}) | "
                f"{r['merge_s']:.2f} ({share:.0%}) | {r['merge_cpu_s']:.2f} ({cpu_share:.0%}) | "
                f"{' / '.join(map(str, r['pairs']))} |",
                flush=True,
            )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1].startswith("--worker"):
        kind, *rest = sys.argv[1:]
        if kind == "--worker":
            worker(rest[0], int(rest[1]))
        elif kind == "--worker3d":
            worker3d(rest[0], rest[1], rest[2], int(rest[3]))
        else:
            worker_tiled(int(rest[0]), int(rest[1]), int(rest[2]))
        sys.exit()
    parser = argparse.ArgumentParser()
    parser.add_argument("sides", type=int, nargs="*")
    parser.add_argument("--tiled", type=int, nargs="+")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--tile", type=int, default=1024)
    parser.add_argument("--3d", dest="side3d", type=int)
    parser.add_argument("--tools3d", nargs="+", default=list(TOOLS_3D))
    args = parser.parse_args()
    if args.tiled:
        main_tiled(args.tiled, args.workers, args.tile)
    elif args.side3d:
        main3d(args.side3d, args.tools3d)
    else:
        main(args.sides or [51, 501, 2001])
