"""EXP-02's analysis on fabricated tables and phases: no training, no run of the protocol."""

import math
from pathlib import Path

import numpy as np
import pytest

from axionlab.capacity import ArchSpec, CoverCalibration, LawVerdict, SeparabilityCurve
from axionlab.protocols.exp02 import analysis as a
from axionlab.protocols.exp02.config import Exp02Config
from axionlab.protocols.runner import load_config
from axionlab.runs import Run, Table, phase_key, write_npz

SMOKE = Path(__file__).resolve().parents[3] / "configs" / "exp02" / "smoke.yaml"


@pytest.fixture(scope="module")
def config() -> Exp02Config:
    smoke = load_config(SMOKE)
    if not isinstance(smoke, Exp02Config):
        raise TypeError(type(smoke))
    return smoke.model_copy(
        update={"analysis": smoke.analysis.model_copy(update={"n_bootstrap": 0})}
    )


MEM_CENSORED = a.capacity_column("mem", "n_censored")
MEM_REASON, CUT_REASON = a.reason_column("mem"), a.reason_column("cut")
MEM_BITS = a.capacity_column("mem", "bits")


def _row(unit: str, kind: str, i: int, **cells: object) -> dict[str, object]:
    """A results.csv row: capacity ∝ total parameters (H-mem) and ∝ partition cut (H-cut)."""
    row: dict[str, object] = dict.fromkeys(a.RESULT_COLUMNS, 0)
    total, cut = 10.0 * 1.7**i, 2.0 + (i * 5) % 9
    # Area measures unrelated to the total: scattered residues.
    area = {m: 3.0 + ((i + 1) * (j + 2)) % 7 for j, m in enumerate(a.AREA_MEASURES)}
    row.update({"unit": unit, "kind": kind, "group": "depth", "widths": "4", **area})
    row.update({"total_params": total, "trainable_params": total, "partition_cut": cut})
    row.update(
        {a.capacity_column("mem", "bits"): 2.0 * total, a.capacity_column("cut", "bits"): 4.0 * cut}
    )
    row.update(
        {a.reason_column(p): "" for p in a.CAPACITY_PHASES}, measures_reason="", cut_layer="x"
    )
    row.update(cells)
    return row


def _family(kinds: tuple[str, ...] = ("mlp",), n: int = 8, **changes: dict[str, object]) -> Table:
    rows = []
    for kind in kinds:
        for i in range(n):
            unit = f"{kind}-{i}"
            rows.append(_row(unit, kind, i, **changes.get(unit, {})))
    return Table.of(rows, a.RESULT_COLUMNS)


def _same(x: Table, y: Table) -> bool:
    return all(
        (u == v)
        or (isinstance(u, float) and isinstance(v, float) and math.isnan(u) and math.isnan(v))
        for r, s in zip(x, y, strict=True)
        for u, v in zip(r.values(), s.values(), strict=True)
    )


def test_a_censored_capacity_is_never_fitted(config):
    censored = {"mlp-3": {MEM_CENSORED: 1, MEM_REASON: "censored"}}
    fits, _ = a.fit_table(_family(**censored), config)
    mem = Table.of(fits, a.FIT_COLUMNS).where(hypothesis="H-mem")
    assert set(mem.column("n")) == {7} and set(mem.column("n_dropped")) == {1}
    assert set(Table.of(fits, a.FIT_COLUMNS).where(hypothesis="H-cut").column("n")) == {8}
    # Whatever value the censored search stopped at, the fits do not move.
    for bits in (1e9, -1.0, math.nan, 0.0):
        moved = {"mlp-3": {**censored["mlp-3"], MEM_BITS: bits}}
        again, _ = a.fit_table(_family(**moved), config)
        assert _same(Table.of(again, a.FIT_COLUMNS), Table.of(fits, a.FIT_COLUMNS))


def test_one_kind_has_no_pooled_scope_and_two_kinds_do(config):
    fits, verdicts = a.fit_table(_family(("mlp",)), config)
    assert {f["scope"] for f in fits} == {"mlp"} and a.scopes(_family(("mlp",))) == ["mlp"]
    assert {v.scope for v in verdicts.values()} == {"mlp"}
    two = _family(("mlp", "cnn"))
    fits, verdicts = a.fit_table(two, config)
    assert a.scopes(two) == ["mlp", "cnn", a.POOLED]
    assert {(f["hypothesis"], f["scope"]) for f in fits} == {
        (h, s) for h in a.HYPOTHESES for s in ("mlp", "cnn", a.POOLED)
    }
    assert {v.scope for v in verdicts.values()} == {a.POOLED}
    pooled = Table.of(fits, a.FIT_COLUMNS).where(scope=a.POOLED)
    assert set(pooled.column("n")) == {16}
    assert len(Table.of(fits, a.FIT_COLUMNS).where(scope="mlp", hypothesis="H-mem")) == len(
        a.MEASURES
    )


def test_verdicts_follow_the_law_each_capacity_was_made_with(config):
    _, verdicts = a.fit_table(_family(("mlp",), n=10), config)
    mem, cut = verdicts["H-mem"].verdict, verdicts["H-cut"].verdict
    assert mem.preferred == "volume" and mem.best_volume in a.VOLUME_MEASURES
    assert mem.exponent == pytest.approx(1.0) and mem.delta_aic > config.analysis.aic_margin
    assert cut.preferred == "area" and cut.best_area == "partition_cut"
    assert cut.exponent == pytest.approx(1.0) and cut.delta_aic < -config.analysis.aic_margin


def test_a_nonpositive_measure_leaves_every_fit_and_is_named(config):
    results = _family(
        **{"mlp-2": {"partition_cut": 0, "measures_reason": "nonpositive_partition_cut"}}
    )
    fits, _ = a.fit_table(results, config)
    assert set(Table.of(fits, a.FIT_COLUMNS).column("n")) == {7}
    excluded = a.exclusion_rows(results)
    assert excluded == [
        {
            "unit": "mlp-2",
            "what": "every fit (power laws need positive measures)",
            "reason": "nonpositive_partition_cut",
        }
    ]
    assert a.exclusion_rows(_family()) == []


def test_too_few_fitted_architectures_is_inconclusive_not_an_error(config):
    censored = {f"mlp-{i}": {MEM_CENSORED: 2, MEM_REASON: "censored"} for i in range(6)}
    results = _family(**censored)
    fits, verdicts = a.fit_table(results, config)
    v = verdicts["H-mem"].verdict
    assert v.preferred == "inconclusive" and math.isnan(v.delta_aic) and v.n == 2
    assert all(f["reason"] for f in fits if f["hypothesis"] == "H-mem")
    whats = {(e["unit"], e["what"], e["reason"]) for e in a.exclusion_rows(results)}
    assert whats == {(f"mlp-{i}", "H-mem (mem_bits)", "censored") for i in range(6)}


def _fake_run(tmp_path: Path) -> Run:
    return Run(tmp_path)


def _store(
    run: Run, unit: str, phase: str, summary: object, arrays: dict[str, np.ndarray] | None = None
) -> None:
    def compute(out: Path) -> object:
        if arrays is not None:
            write_npz(out / "curves.npz", arrays)
        return summary

    run.phase(unit, phase, phase_key("test", {"unit": unit, "phase": phase}), compute)


def test_result_row_records_reasons_and_ratios_from_the_phases(tmp_path):
    run = _fake_run(tmp_path)
    spec = ArchSpec("cnn-depth-1", "cnn", "depth", (1, 2, 4), (2,), 2, 0)
    boundary = dict.fromkeys(a.BOUNDARY_COLUMNS, 6)
    boundary.update(total_params=40, trainable_params=32, partition_cut=0, cut_layer="conv0")
    _store(run, spec.name, "boundary", boundary)
    capacity = dict.fromkeys(a.CAPACITY_FIELDS, 1)
    _store(run, spec.name, "memorization", {**capacity, "bits": 20.0, "n_censored": 1})
    _store(run, spec.name, "cross_partition", {**capacity, "bits": 3.0, "n_censored": 0})
    row = a.result_row(run, spec)
    assert tuple(row) == a.RESULT_COLUMNS
    assert (row["widths"], row["cut_layer"]) == ("2", "conv0")
    assert row["bits_per_param"] == 0.5 and row["bits_per_trainable_param"] == 20 / 32
    assert math.isnan(row["cut_bits_per_partition_cut"])  # a zero cut: undefined, not infinite
    assert (row[MEM_REASON], row[CUT_REASON]) == ("censored", "")
    assert row["measures_reason"] == "nonpositive_partition_cut"


def test_cover_summary_and_rows_give_the_z_of_the_fifty_percent_point(tmp_path, config):
    curve = SeparabilityCurve(
        4, np.arange(1, 5), np.array([1.0, 0.9, 0.4, 0.1]), 200, False, "gaussian", 9
    )
    closed = np.array([1.0, 1.0, 0.5, 0.1])
    calibration = CoverCalibration(curve, closed, 4, 200, 9, 2.8, 8, 0.25, 0.1)
    summary = a.cover_summary(calibration)
    assert tuple(summary) == a.COVER_FIELDS
    run = _fake_run(tmp_path)
    arrays = (curve.P, curve.fraction, curve.stderr, closed)
    curves = {a.cover_array(i, 4): x for i, x in enumerate(arrays)}
    _store(run, "cover", "cover", {"N4": summary}, curves)
    cfg = config.model_copy(update={"cover": config.cover.model_copy(update={"dims": [4]})})
    rows, points = a.cover_rows(run, cfg)
    assert rows[0]["p50_z"] == (2.8 - 8) / 0.25 == calibration.p50_z
    assert tuple(rows[0]) == a.COVER_COLUMNS
    assert [p["P"] for p in points] == [1, 2, 3, 4]
    assert [p["closed_form"] for p in points] == closed.tolist()
    assert [tuple(p) for p in points] == [a.COVER_CURVE_COLUMNS] * 4


def test_tables_round_trip_typed(tmp_path, config):
    results = _family(("mlp", "cnn"), **{"mlp-1": {MEM_CENSORED: 1, MEM_REASON: "censored"}})
    fits, verdicts = a.fit_table(results, config)
    cover = [
        {
            **dict.fromkeys(a.COVER_FIELDS, 1.5),
            "N": 4,
            "lps": 9,
            "trials": 200,
            "p50_expected": 8,
            "p50_z": -0.5,
        }
    ]
    curve = [{"N": 4, "P": 1, "fraction": 1.0, "stderr": 0.0, "closed_form": 1.0}]
    readout = [
        {
            **dict.fromkeys(a.READOUT_COLUMNS, 2.5),
            "unit": "readout-mlp-4",
            "width": 4,
            "trainable_params": 5,
            "exact_n_censored": 0,
            "trained_n_censored": 1,
        }
    ]
    tables = a.Exp02Tables(
        results=results,
        fits=Table.of(fits, a.FIT_COLUMNS),
        verdicts=verdicts,
        cover=Table.of(cover, a.COVER_COLUMNS),
        cover_curve=Table.of(curve, a.COVER_CURVE_COLUMNS),
        readout=Table.of(readout, a.READOUT_COLUMNS),
        exclusions=Table.of(a.exclusion_rows(results), a.EXCLUSION_COLUMNS),
    )
    a.write_tables(tmp_path, tables)
    back = a.read_tables(Run(tmp_path))
    assert back.results.column(MEM_CENSORED)[:2] == [0, 1]
    assert back.results.column(MEM_REASON)[:2] == ["", "censored"]
    assert back.results.column("unit") == results.column("unit")
    np.testing.assert_array_equal(back.results.floats(MEM_BITS), results.floats(MEM_BITS))
    assert _same(back.fits, tables.fits) and back.fits.columns == a.FIT_COLUMNS
    assert back.verdicts == verdicts and isinstance(back.verdicts["H-mem"].verdict, LawVerdict)
    assert back.readout.column("trained_n_censored") == [1] and back.cover.column("N") == [4]
    assert back.exclusions.column("reason") == ["censored"]
    headline = a.headline(back)
    assert headline["cover/p50_over_2N/N4"] == 1.5 / 8
    assert headline["H-mem/delta_aic"] == verdicts["H-mem"].verdict.delta_aic
    assert headline["readout/readout-mlp-4/exact_bits_per_param"] == 2.5
    assert headline["architectures"] == 16.0
