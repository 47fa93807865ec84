"""EXP-04's analysis on fabricated phase summaries (no simulation): the tables' properties."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from axionlab.protocols.exp04 import analysis as a
from axionlab.protocols.exp04.config import Exp04Config, Exp04Point, noise_level
from axionlab.quantum import (
    CLOSED_FORM_QUANTITIES,
    DECAYING_CURVES,
    NONFINITE_CURVE,
    SEQUENCE_CURVES,
    DecayRate,
    SequenceSummary,
    ordering_vs_entropy,
)
from axionlab.runs import Run, Table, phase_key, write_npz
from axionlab.stats import mean_ci

# mean_ci of a point whose seeds include an infinite rate: nan interval (as in any real run)
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")

CONFIG = Exp04Config.model_validate(
    {
        "protocol": "exp04",
        "seeds": [0, 1],
        "n_orderings": 3,
        "sweep": {
            "qubits": [1, 2],
            "lengths": [1, 2, 4],
            "orderings": ["fixed", "random"],
            "diversities": [1, 3],
            "pools": ["haar", "z_rotation"],
            "noise_models": ["none", "amplitude_damping"],
            "strengths": [0.1],
        },
    }
)
BROKEN = "n1_haar_k3_random_amplitude_damping0.1_s1"
"""The one unit whose fidelity curve is not finite."""
INFINITE = "n2_haar_k3_fixed_amplitude_damping0.1_s0"
"""The one unit whose echo decays to 0 in one step (rate inf)."""


def fabricated(point: Exp04Point, seed: int, unit: str) -> SequenceSummary:
    """A plausible summary: the commuting pool and noiseless purity have closed forms."""
    commuting = point.pool == "z_rotation"
    td = 0.0 if commuting or point.diversity == 1 else 0.02 + 0.1 * point.n_qubits + 0.01 * seed
    noisy = point.noise != "none"
    decay = {
        c: DecayRate(0.1 * point.n_qubits + 0.01 * seed if noisy else 0.0, "")
        for c in DECAYING_CURVES
    }
    if unit == BROKEN:
        decay["fidelity"] = DecayRate(math.nan, NONFINITE_CURVE)
    if unit == INFINITE:
        decay["loschmidt_echo"] = DecayRate(math.inf, "")
    final = {c: 0.5 for c in SEQUENCE_CURVES}
    final["ordering_trace_distance"] = td
    # amplitude damping on two qubits keeps the entropy flat across orderings (blind)
    final["ordering_entropy_var"] = 1e-6 if point.n_qubits == 2 else 0.04
    if commuting:
        quantities = CLOSED_FORM_QUANTITIES
    elif not noisy:
        quantities = ("purity", "loschmidt_echo", "von_neumann_entropy")
    else:
        quantities = ()
    deviation = {q: (1e-15 if q in quantities else math.nan) for q in CLOSED_FORM_QUANTITIES}
    return SequenceSummary(
        decay=decay,
        final=final,
        n_distinct=point.diversity,
        frame_potential_1=1.0,
        frame_potential_2=2.0,
        commutator_norm=math.nan if point.n_qubits == 2 else 0.3,
        closed_form_deviation=deviation,
        closed_form_quantities=quantities,
        closed_form_max_dev=1e-15 if quantities else math.nan,
    )


SMALL = Exp04Config.model_validate(
    {
        "protocol": "exp04",
        "seeds": [0],
        "sweep": {
            **CONFIG.sweep.model_dump(),
            "qubits": [1],
            "orderings": ["random"],
            "pools": ["haar"],
        },
    }
)
"""Four units, stored as phases of a run directory."""


def results_of(config: Exp04Config) -> Table:
    return Table.of(
        [
            a.result_row(u, a.unit_summary(fabricated(u.params, u.seed, u.id)))
            for u in config.units()
        ],
        a.RESULT_COLUMNS,
    )


@pytest.fixture(scope="module")
def tables() -> a.Exp04Tables:
    return a.tabulate(results_of(CONFIG), CONFIG)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A run directory whose every unit of ``SMALL`` has a stored ``sequence`` phase."""
    run = Run(tmp_path_factory.mktemp("runs") / "exp04" / "fabricated")
    run.path.mkdir(parents=True)
    lengths = np.array(SMALL.sweep.lengths)
    for unit in SMALL.units():
        summary = a.unit_summary(fabricated(unit.params, unit.seed, unit.id))

        def compute(out: Path, summary: dict[str, Any] = summary) -> dict[str, Any]:
            curves = {c: np.exp(-0.1 * lengths) for c in SEQUENCE_CURVES}
            write_npz(out / "curves.npz", {"lengths": lengths, **curves})
            return summary

        run.phase(unit.id, a.PHASE, phase_key("1", unit.id), compute)
    return run


def rows(table: Table) -> list[Mapping[str, Any]]:
    return list(table)


def test_results_hold_every_unit_in_plan_order(tables: a.Exp04Tables) -> None:
    assert tables.results.columns == a.RESULT_COLUMNS
    assert tables.results.column("unit") == [u.id for u in CONFIG.units()]
    row = rows(tables.results)[0]
    assert row["seed"] == 0 and row["n_qubits"] == 1 and row["strength"] == 0.0


def test_an_undefined_rate_is_named_not_averaged(tables: a.Exp04Tables) -> None:
    assert rows(tables.exclusions) == [
        {"unit": BROKEN, "what": "fidelity_rate", "reason": NONFINITE_CURVE}
    ]
    point = BROKEN.removesuffix("_s1")
    (cell,) = rows(tables.summary.where(point=point, metric="fidelity_rate"))
    (other,) = rows(tables.results.where(unit=f"{point}_s0"))
    assert cell["n"] == 1 and cell["mean"] == other["fidelity_rate"]
    assert math.isnan(cell["ci_low"])


def test_summary_is_mean_ci_over_seeds_per_point_and_metric(tables: a.Exp04Tables) -> None:
    assert tables.summary.columns == a.SUMMARY_COLUMNS
    assert len(tables.summary) == len(CONFIG.sweep.points()) * len(a.METRICS)
    results = rows(tables.results)
    checked = ("fidelity_rate", "echo_rate", "ordering_td", "commutator_norm")  # nan, inf, plain
    for r in rows(tables.summary):
        if r["metric"] not in checked:
            continue
        values = [u[r["metric"]] for u in results if u["point"] == r["point"]]
        assert len(values) == len(CONFIG.seeds)
        got = (r["mean"], r["ci_low"], r["ci_high"], r["n"])
        np.testing.assert_equal(got, tuple(mean_ci(values, CONFIG.analysis.ci)))


def test_beyond_closed_form_is_exactly_the_points_without_one(tables: a.Exp04Tables) -> None:
    results = rows(tables.results)
    assert set(tables.beyond.column("point")) == {
        r["point"] for r in results if not r["closed_form"]
    }
    assert set(tables.beyond.column("pool")) == {"haar"}
    assert set(tables.beyond.column("noise")) == {"amplitude_damping"}
    assert set(tables.beyond.column("n_seeds")) == {len(CONFIG.seeds)}
    # an infinite rate is left out of its point's mean: the other seed's value remains
    (point,) = rows(tables.beyond.where(point=INFINITE.removesuffix("_s0")))
    (other,) = rows(tables.results.where(unit=INFINITE.replace("_s0", "_s1")))
    assert point["echo_rate_mean"] == other["echo_rate"]


def test_ordering_vs_entropy_counts_only_open_units_with_k_at_least_2(
    tables: a.Exp04Tables,
) -> None:
    assert tables.entropy.column("noise_level") == ["none", "amplitude_damping 0.1"]
    for row in rows(tables.entropy):
        # the commuting pool (ordering fixed by a closed form) and k = 1 never count
        used = [
            r
            for r in rows(tables.results)
            if r["diversity"] >= 2 and r["pool"] == "haar" and r["noise"] == row["noise"]
        ]
        assert row["n_units"] == len(used) == 2 * 2 * 2  # qubits × orderings × seeds
        found = ordering_vs_entropy(
            [r["ordering_td"] for r in used],
            [r["entropy_var"] for r in used],
            order_threshold=CONFIG.analysis.order_threshold,
            entropy_threshold=CONFIG.analysis.entropy_threshold,
        )
        assert row["ordering_td_mean"] == found.trace_distance_mean
        # two-qubit units move by > 0.2 with flat entropy (dependent and blind); one-qubit
        # units by > 0.1 with entropy that varies (dependent only)
        assert (row["order_dependent"], row["entropy_blind"]) == (8, 4)
        assert row["entropy_blind_fraction"] == 0.5


def test_one_diversity_gives_no_ordering_rows(tables: a.Exp04Tables) -> None:
    only_k1 = tables.results.where(diversity=1)
    entropy = a.ordering_entropy_table(only_k1, CONFIG.analysis)
    assert len(entropy) == 0 and entropy.columns == a.ENTROPY_COLUMNS
    assert not any(
        k.startswith("ordering_td/") for k in a.headline(a.tabulate(only_k1, CONFIG), CONFIG)
    )


def test_headline_reads_the_tables(tables: a.Exp04Tables) -> None:
    head = a.headline(tables, CONFIG)
    assert head["units"] == len(CONFIG.units()) and head["points"] == len(CONFIG.sweep.points())
    assert head["beyond_closed_form_points"] == len(tables.beyond)
    assert head["closed_form_max_dev"] == 1e-15
    assert head["entropy_blind_fraction/amplitude_damping 0.1"] == 0.5
    assert head["ordering_td/none"] == tables.entropy.floats("ordering_td_mean")[0]


def test_findings_are_the_tables_read_aloud(tables: a.Exp04Tables) -> None:
    found = a.findings(tables)
    assert found.n_units == len(tables.results)
    assert found.n_points == len(CONFIG.sweep.points())
    # z_rotation everywhere and haar without noise have a closed form
    assert found.closed_form_points == len(CONFIG.sweep.points()) - len(tables.beyond)
    assert found.closed_form_max_dev == 1e-15
    assert found.predicted_ordering_max == 0.0
    by_level = [td for _, td in found.ordering_by_level]
    assert by_level == sorted(by_level, reverse=True)
    assert [m.key for m in found.ordering_by_diversity] == [1, 3]
    assert [m.key for m in found.echo_rate_by_noise] == ["none", "amplitude_damping"]
    # every mean counts only the units whose value is defined (an infinite rate is not)
    damped = tables.results.where(noise="amplitude_damping").floats("echo_rate")
    assert np.isinf(damped).any()
    echo = {m.key: m for m in found.echo_rate_by_noise}["amplitude_damping"]
    finite = damped[np.isfinite(damped)]
    assert echo.n == finite.size < damped.size and echo.mean == pytest.approx(finite.mean())
    entropy = tables.entropy
    assert [e.noise_level for e in found.entropy_levels] == [
        str(r["noise_level"]) for r in entropy if r["noise"] == a.ENTROPY_NOISE
    ]
    assert all(level != a.ENTROPY_NOISE for level, _ in found.entropy_blind_elsewhere)


def test_beyond_groups_mean_only_defined_points_and_say_how_many() -> None:
    point = {"pool": "haar", "noise": "amplitude_damping", "n_qubits": 2}
    means = {column: 1.0 for column in a.BEYOND_MEAN.values()}
    beyond = [
        point | means,
        point | means | {"echo_rate_mean": math.inf},
        point | means | {"echo_rate_mean": 3.0},
    ]
    (row,) = a.beyond_groups(beyond)
    assert row["n_points"] == 3 and row["echo_rate_mean"] == 2.0
    assert row[a.BEYOND_GROUP_N["echo_rate_mean"]] == 2
    assert row[a.BEYOND_GROUP_N["fidelity_rate_mean"]] == 3


def test_report_groups_partition_the_units_and_points(tables: a.Exp04Tables) -> None:
    closed = a.closed_form_groups(tables.results)
    assert closed.floats("n_units").sum() == len(tables.results)
    assert set(closed.where(pool="z_rotation").column("closed_form_quantities")) == {
        "+".join(CLOSED_FORM_QUANTITIES)
    }
    assert set(closed.where(pool="haar", noise="none").column("closed_form_quantities")) == {
        "purity+loschmidt_echo+von_neumann_entropy"
    }
    assert set(
        closed.where(pool="haar", noise="amplitude_damping").column("closed_form_quantities")
    ) == {"—"}
    assert a.beyond_groups(tables.beyond).floats("n_points").sum() == len(tables.beyond)


def test_maps_cover_k_by_noise_level_per_pool(tables: a.Exp04Tables) -> None:
    absolute = a.metric_map(tables.results, CONFIG, "ordering_td", relative=False)
    relative = a.metric_map(tables.results, CONFIG, "entropy_var", relative=True)
    for heat in (absolute, relative):
        assert set(heat.cells) == {"haar", "z_rotation"}
        assert all(m.shape == (2, 2) for m in heat.cells.values())  # k × noise level
    assert absolute.scale == 1.0
    assert max(float(np.nanmax(relative.shown(p))) for p in relative.cells) == 1.0
    assert np.all(absolute.cells["z_rotation"] == 0.0)


def test_a_map_cell_is_the_mean_of_its_finite_values(tables: a.Exp04Tables) -> None:
    rows = [dict(r) for r in tables.results if r["pool"] == "haar"]
    first = rows[0]
    same = [r for r in rows if all(r[k] == first[k] for k in ("diversity", "noise", "strength"))]
    same[0]["ordering_td"] = math.inf  # an undefined value must not become the cell
    for i, r in enumerate(same[1:]):
        r["ordering_td"] = 0.25 * (i + 1)
    expected = float(np.mean([0.25 * (i + 1) for i in range(len(same) - 1)]))
    heat = a.metric_map(rows, CONFIG, "ordering_td", relative=False)
    k = list(CONFIG.sweep.diversities).index(int(first["diversity"]))
    level = list(a.noise_levels(CONFIG)).index(
        noise_level(str(first["noise"]), float(first["strength"]))
    )
    cell = float(heat.cells["haar"][k, level])
    assert (cell == pytest.approx(expected)) if len(same) > 1 else math.isnan(cell)


def test_analyse_writes_what_read_tables_gives_back(run: Run) -> None:
    written = a.analyse(run, SMALL)
    assert written.results.column("unit") == [u.id for u in SMALL.units()]
    again = a.read_tables(run)
    for name in ("results", "summary", "beyond", "entropy", "exclusions"):
        w_table, r_table = getattr(written, name), getattr(again, name)
        assert r_table.columns == w_table.columns
        for w, r in zip(w_table, r_table, strict=True):
            for column in w_table.columns:
                nan = isinstance(w[column], float) and math.isnan(w[column])
                assert (nan and math.isnan(r[column])) or w[column] == r[column], (name, column)
                assert type(w[column]) is type(r[column]), (name, column)


def test_report_tables_of_a_stored_run(run: Run) -> None:
    a.analyse(run, SMALL)
    view = a.report_tables(run, SMALL)
    assert view.levels == ("none", "amplitude_damping 0.1")
    assert view.findings.n_units == len(SMALL.units())
    # one series per register size, holding its units' curves (units × lengths)
    assert set(view.decay) == {(d, level) for d in a.DECAYS for level in view.levels}
    assert view.decay[("echo", "none")]["n = 1"].shape == (2, len(SMALL.sweep.lengths))
