"""Reference topology of shared grids from Landscaper (dev-only, run in a side venv).

    python3 -m venv /tmp/refvenv_t
    /tmp/refvenv_t/bin/pip install torch==2.13.0 landscaper==1.3.1
    /tmp/refvenv_t/bin/python benchmarks/references/landscaper_reference.py

writes ``tests/topology/data/landscaper_reference.json``: for three small grids (``random_13x11``,
``smooth_31x27``, ``wells_25x25``) Landscaper's SMAD in its four variants (``normalize`` ×
``weighted``) and, for the first two, its topological profile (``generate_profile``: one polygon
per basin); for a 51 × 51 field its sublevel merge tree (nodes with values, edges child → parent)
and the H0 pairs that tree gives by the elder rule; with the package versions. Grids are float32
values stored as float64, because topopy keeps node values in float32: comparisons are then exact.
``tests/topology/test_profile.py`` compares axionlab's merge tree, profile and SMAD with these.
"""

from __future__ import annotations

import json
import platform
from importlib.metadata import version
from pathlib import Path

import numpy as np
from landscaper import LossLandscape
from landscaper.topology_profile import generate_profile

OUT = Path(__file__).resolve().parents[2] / "tests" / "topology" / "data"
PACKAGES = ("landscaper", "topopy", "nglpy", "networkx", "numpy", "gudhi")


def grids() -> dict[str, np.ndarray]:
    """The shared grids: a random one (many tiny basins), a smooth wave, noisy Gaussian wells."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:31, 0:27] / 4.0
    wave = np.sin(x) * np.cos(0.8 * y) + 0.2 * np.sin(2.1 * x + y)
    yy, xx = np.mgrid[0:25, 0:25].astype(float)
    wells = [(1.0, 5, 5), (1.5, 18, 6), (0.7, 12, 19), (1.2, 4, 20)]
    basins = -sum(d * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 10) for d, cx, cy in wells)
    v, u = np.mgrid[0:51, 0:51] / 8.0
    noise = rng.random((51, 51))
    fields = {
        "random_13x11": rng.random((13, 11)),
        "smooth_31x27": wave + 0.01 * rng.standard_normal((31, 27)),
        "wells_25x25": basins + 0.05 * rng.standard_normal((25, 25)),
        "field_51x51": np.sin(u) * np.cos(v) + 0.3 * np.cos(1.7 * u - v) + 0.1 * noise,
    }
    return {k: f.astype(np.float32).astype(np.float64) for k, f in fields.items()}


def landscape(values: np.ndarray) -> LossLandscape:
    """Unit-spaced coordinates: axis 1 is x, axis 0 is y, as Landscaper's meshgrid lays them out."""
    rows, cols = values.shape
    return LossLandscape(values, [np.arange(cols, dtype=float), np.arange(rows, dtype=float)])


def elder_pairs(nodes: dict[int, float], edges: list[tuple[int, int]]) -> list[list[float]]:
    """H0 of a merge tree: at each merge the child with the earliest (value, index) leaf lives."""
    parent = dict(edges)
    children: dict[int, list[int]] = {}
    for child, p in edges:
        children.setdefault(p, []).append(child)
    elder: dict[int, tuple[float, int]] = {}
    for node in sorted(nodes, key=lambda n: (nodes[n], n)):  # children are below their parents
        below = [elder[c] for c in children.get(node, [])]
        elder[node] = min(below, default=(nodes[node], node))
    out = [[elder[c][0], nodes[parent[c]]] for c in parent if elder[c] != elder[parent[c]]]
    root = next(n for n in nodes if n not in parent)
    out.append([elder[root][0], float("inf")])
    return [p for p in out if p[0] != p[1]]


def main() -> None:
    out: dict[str, object] = {
        "versions": {p: version(p) for p in PACKAGES} | {"python": platform.python_version()}
    }
    for name, values in grids().items():
        ll = landscape(values)
        entry: dict[str, object] = {"values": values.tolist()}
        if name == "field_51x51":
            tree = ll.get_sublevel_tree()
            # Node values as the grid holds them (topopy's float32 copy equals them here).
            nodes = {int(n): float(values.flat[n]) for n in dict(tree.nodes)}
            edges = sorted((int(a), int(b)) for a, b in tree.edges)
            entry |= {"nodes": nodes, "edges": edges, "h0": elder_pairs(nodes, edges)}
        else:
            entry["smad"] = {
                f"normalize={n},weighted={w}": float(ll.smad(normalize=n, weighted=w))
                for n in (False, True)
                for w in (False, True)
            }
            if name != "wells_25x25":  # its 115 basins would take 0.9 MB
                entry["profile"] = generate_profile(ll.get_sublevel_tree())
        out[name] = entry
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "landscaper_reference.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main()
