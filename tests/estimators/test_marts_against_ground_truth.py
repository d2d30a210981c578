"""Issue 4's figures end to end, the one slow path through the real generator and the warehouse: the generator's
records landed in raw, staged, and the marts built with the shipped settings. marts.position_bias is compared
with the counts of the same records (exactly: anything lost or misattributed on the way changes them) and, with
marts.document_ctr, with the generator's truth.

The estimators' accuracy is tested on a million simulated searches (test_against_ground_truth.py), so this
sample is only as large as keeps the comparisons with the truth meaningful: 1.6M records, about 97k searches,
the devices in equal shares (with the default shares tablets get a tenth, and the device with the fewest
searches sets the tolerance). With about 32k searches per device the tolerances are those of the sample, not
issue 4's (0.02 for the curve, 0.03 for the pivot, set on 200k searches):
- the fitted curve within 0.03 of the truth: the largest error per device averages 0.014 and reaches 0.027 over
  twenty simulated worlds of this size, and reaches 0.024 on the generator's records with seeds 5 to 8 (0.015
  with seed 5, the one used); the naive curve is off by 0.06 to 0.14, so 0.03 still tells them apart, and a
  curve shifted by a position or fitted on another device's slots is off by 0.09 or more;
- the pivot within 0.07: its error is heavy-tailed (twenty simulated worlds: up to 0.064; the generator's
  seeds 5 to 8: up to 0.034; seed 5: 0.027);
- well-sampled (query, document) pairs have 150 impressions, not 200: with 200, the top bucket keeps 31 to 33
  pairs (seeds 5 and 6), at the edge of the 30 its median needs; with 150, 42 to 44, and the medians of the
  debiased CTR stay within 2% of the truth (the tolerance stays 5%).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from interactions_etl import warehouse
from interactions_etl.estimators.position_bias import coverage, fit_pbm, naive_ctr, pivot_ratios
from interactions_etl.lake import Lake
from interactions_etl.marts import refresh_marts
from interactions_etl.staging import refresh_staging
from tests.estimators.conftest import DEVICES, MARTS_SETTINGS, VARIED_CONFIG, KnownTraffic
from tests.estimators.simulation import simulate_cells

# Set-up (generating, landing, staging and the marts) takes about 110 s on two idle cores, about 220 s beside the
# rest of the suite on four workers: a fifth of this limit. Under --dist loadfile (python3 dev.py test) one
# worker builds the warehouse and runs every test of this file.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

CURVE_TOLERANCE = 0.03  # issue 4's 0.02 needs more searches per device (see above)
PIVOT_TOLERANCE = 0.07  # issue 4's 0.03 likewise
WELL_SAMPLED = 150  # impressions of a (query, document) pair in the window
# Position buckets by the pair's mean rank.
BUCKETS = ((1.0, 3.0), (3.0, 5.0), (5.0, 8.0), (8.0, 21.0))


def build_on_a_lake(varied: KnownTraffic, lake: Lake) -> None:
    """The same raw rows in a lake, then staging and the marts built there by the lake's own SQL runs."""
    connection = warehouse.connect(lake)
    try:
        warehouse.ensure_raw_tables(connection)
        warehouse.attach(connection, varied.warehouse_path, "source", read_only=True)
        with warehouse.transaction(connection):
            for table in ("interactions", "changed_event_dates"):
                connection.execute(f"INSERT INTO raw.{table} SELECT * FROM source.raw.{table}")
        connection.execute("DETACH source")
        refresh_staging(connection)
        refresh_marts(connection, MARTS_SETTINGS)
    finally:
        connection.close()


@pytest.fixture(scope="module", params=["file", "ducklake"])
def con(
    request: pytest.FixtureRequest, varied: KnownTraffic, tmp_path_factory: pytest.TempPathFactory
) -> duckdb.DuckDBPyConnection:
    """The marts of the generator's records built on each backend: every comparison below holds on both."""
    location: warehouse.Location = varied.warehouse_path
    if request.param == "ducklake":
        location = request.getfixturevalue("postgres_server").lake(tmp_path_factory.mktemp("lake-data"))
        build_on_a_lake(varied, location)
    connection = warehouse.connect(location, read_only=True)
    yield connection
    connection.close()


def curve(con: duckdb.DuckDBPyConnection, segment_type: str, segment: str) -> pd.DataFrame:
    return con.execute(
        "SELECT * FROM marts.position_bias WHERE segment_type = ? AND segment = ? ORDER BY position",
        [segment_type, segment],
    ).df()


def floats(column: pd.Series) -> np.ndarray:
    return column.to_numpy(dtype=float, na_value=np.nan)


@pytest.mark.parametrize("device", DEVICES)
def test_the_mart_fits_exactly_what_the_records_counted(con, varied, device) -> None:
    cells = varied.cells_by_device[device]
    fitted = curve(con, "device", device)
    page = varied.truth["page_size"][device]
    shown = varied.truth["counts"]["impressions_by_device_position"][device][:page]
    assert fitted["impressions"].tolist() == shown  # the generator's own count of the impressions it sent
    assert fitted["clicks"].tolist() == np.bincount(cells.position, weights=cells.clicks).tolist()
    naive = naive_ctr(cells)
    np.testing.assert_allclose(floats(fitted["ctr_relative"]), naive / naive[0], rtol=1e-9)
    np.testing.assert_allclose(floats(fitted["pivot_examination"]), pivot_ratios(cells), rtol=1e-9)
    assert fitted["coverage"].iloc[0] == pytest.approx(coverage(cells), rel=1e-12)
    settings = MARTS_SETTINGS.curve
    kept = cells.restricted_to_pairs_with(settings.min_pair_impressions)
    fit = fit_pbm(kept, tolerance=settings.tolerance, max_iterations=settings.max_iterations)
    assert (fitted["fitted_pairs"] == kept.n_pairs).all()
    np.testing.assert_allclose(floats(fitted["examination"]), fit.relative_theta, atol=1e-9)


@pytest.mark.parametrize("device", DEVICES)
def test_the_fitted_curve_is_near_the_truth_and_the_naive_one_is_not(con, varied, device) -> None:
    true_curve = np.array(varied.truth["examination_relative"][device])
    fitted = curve(con, "device", device)
    assert len(fitted) == len(true_curve)
    assert fitted["identifiable"].all() and fitted["em_converged"].all()
    em_error = np.abs(floats(fitted["examination"]) - true_curve).max()
    naive_error = np.abs(floats(fitted["ctr_relative"]) - true_curve).max()
    assert em_error <= CURVE_TOLERANCE, (device, em_error)
    assert naive_error > CURVE_TOLERANCE and naive_error > 2 * em_error, (device, naive_error, em_error)
    pivot_error = np.nanmax(np.abs(floats(fitted["pivot_examination"]) - true_curve))
    assert pivot_error <= PIVOT_TOLERANCE, (device, pivot_error)
    assert (fitted["coverage"] > 0.9).all()


def test_the_unit_tests_simulation_counts_like_the_generator(varied) -> None:
    """The estimators' unit tests run on simulated counts (tests/estimators/simulation.py): at the same config
    and number of searches, those look like the generator's. Measured, seeds 5 and 6 against three simulated
    worlds each: impressions within 1.3%, pairs within 3.5% (those with 100 impressions within 5.5%), CTR
    within 6.5%, coverage within 0.002; a change to the generator's model (attractiveness, rankers, pages)
    moves these by far more."""
    simulated = simulate_cells(VARIED_CONFIG, searches=varied.truth["counts"]["executions"])
    for device in DEVICES:
        real, sim = varied.cells_by_device[device], simulated.cells_by_device[device]
        assert sim.impressions.sum() == pytest.approx(real.impressions.sum(), rel=0.03), device
        assert sim.n_pairs == pytest.approx(real.n_pairs, rel=0.06), device
        well_sampled = [np.sum(np.bincount(c.pair, weights=c.impressions) >= 100) for c in (real, sim)]
        assert well_sampled[1] == pytest.approx(well_sampled[0], rel=0.1), device
        ctr = [c.clicks.sum() / c.impressions.sum() for c in (real, sim)]
        assert ctr[1] == pytest.approx(ctr[0], rel=0.12), device
        assert coverage(sim) == pytest.approx(coverage(real), abs=0.01), device


def test_every_segment_converged_and_the_checks_pass(con) -> None:
    segments = con.execute(
        "SELECT segment_type, segment, bool_and(em_converged), bool_or(identifiable) FROM marts.position_bias"
        " GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    # all, three devices, and the three retrievers that send impressions (the legacy one sends none).
    assert [s[:2] for s in segments if s[0] != "retriever"] == [("all", "all")] + [
        ("device", d) for d in sorted(DEVICES)
    ]
    assert sum(1 for s in segments if s[0] == "retriever") == 3
    assert all(s[2] and s[3] for s in segments)
    for check in (
        "position_bias_rates_outside_0_1",
        "position_bias_em_not_converged",
        "document_ctr_rates_outside_0_1",
    ):
        assert warehouse.one(con, f"checks/{check}")[0] == 0


def test_a_deterministic_ranker_raises_the_flag(deterministic: KnownTraffic) -> None:
    connection = warehouse.connect(deterministic.warehouse_path, read_only=True)
    try:
        rows = connection.execute(
            "SELECT segment_type, bool_or(identifiable), count(examination), max(coverage), any_value(note)"
            " FROM marts.position_bias GROUP BY ALL"
        ).fetchall()
    finally:
        connection.close()
    assert {r[0] for r in rows} == {"all", "retriever", "device"}
    for _, identifiable, published, coverage_, note in rows:
        assert (identifiable, published, coverage_) == (False, 0, 0.0)
        assert "cannot be told apart" in note


def document_truth(con: duckdb.DuckDBPyConnection, truth: dict) -> pd.DataFrame:
    """For each well-sampled (query, document): what the ratio estimator estimates, from the true parameters at
    the slots where the pair was actually shown: sum of alpha * theta_k / sum of theta_k / theta_0 (device
    curves), the CTR at rank 1."""
    alpha = pd.DataFrame(truth["attractiveness"])
    theta = pd.DataFrame(
        [
            (device, k, t, values[0])
            for device, values in truth["examination"].items()
            for k, t in enumerate(values)
        ],
        columns=["device", "position", "theta", "theta_top"],
    )
    con.register("true_alpha", alpha)
    con.register("true_theta", theta)
    try:
        return con.execute(
            """
            SELECT d.query_text, d.feature_id, d.mean_rank, d.ctr, d.debiased_ctr,
                   sum(a.alpha * t.theta) / sum(t.theta / t.theta_top) AS true_ctr_at_top
            FROM marts.document_ctr AS d
            JOIN staging.result_slots AS s
              ON s.query_text = d.query_text AND s.feature_id = d.feature_id AND s.shown
            JOIN true_alpha AS a ON a.query = s.query_text AND a.feature_id = s.feature_id
            JOIN true_theta AS t ON t.device = s.device AND t.position = s.position
            WHERE d.grain = 'query_document' AND d.impressions >= ?
            GROUP BY ALL
            """,
            [WELL_SAMPLED],
        ).df()
    finally:
        con.unregister("true_alpha")
        con.unregister("true_theta")


def test_median_debiased_ctr_is_within_5_percent_in_every_position_bucket(con, varied) -> None:
    docs = document_truth(con, varied.truth)
    assert len(docs) > 500
    for low, high in BUCKETS:
        bucket = docs[(docs["mean_rank"] >= low) & (docs["mean_rank"] < high)]
        assert len(bucket) >= 30, (low, high, len(bucket))
        debiased = float(np.median(bucket["debiased_ctr"] / bucket["true_ctr_at_top"]))
        raw = float(np.median(bucket["ctr"] / bucket["true_ctr_at_top"]))
        assert abs(debiased - 1) <= 0.05, (low, high, debiased)
        # Raw CTR understates what a result would get at rank 1, the more the lower it is shown (measured:
        # medians 0.77, 0.56, 0.33, 0.16 of the truth for these buckets, debiased 0.98 to 1.01).
        assert abs(raw - 1) > 0.05, (low, high, raw)
