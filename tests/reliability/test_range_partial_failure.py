"""Issue 25: a failed day in a range never holds the other days hostage. The days that loaded are refreshed
downstream and published, the failed day is named with its reason and left as it was, the exit code is non-zero,
and Dagster's instance shows the failed day's partition as failed, not materialized."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson

from interactions_etl.landing import load_day
from mixpeek_emulator.server import EmulatorServer
from tests.pipeline.conftest import DAY, fill, make_client, spread_over_day
from tests.reliability.misbehaving import MisbehavingProxy
from tests.reliability.test_cli_errors import api, interactions_load, one_error_line
from tests.reliability.test_misbehaving_server import shift_total

PER_DAY = 300


def rows_of(path: Path, day: Any) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(
            "SELECT * EXCLUDE (loaded_at, run_id) FROM raw.interactions WHERE partition_date = ? ORDER BY ALL",
            [day],
        ).fetchall()
    finally:
        con.close()


def counts(path: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_range_whose_middle_day_fails_refreshes_and_publishes_the_others(
    server: EmulatorServer, tmp_path: Path
) -> None:
    first, middle, last = DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)
    for i, day in enumerate((first, middle, last)):
        fill(server, spread_over_day(PER_DAY, day, start_index=10_000 * i))
    warehouse = tmp_path / "w.duckdb"
    # The middle day was loaded once, cleanly; the server has since gained records for it, which the failing
    # run must not land: the day keeps exactly what it held.
    with make_client(server) as client:
        load_day(client, str(warehouse), middle, "run-before")
    before = rows_of(warehouse, middle)
    assert len(before) == PER_DAY
    fill(server, spread_over_day(50, middle, start_index=50_000))

    wrong_total = shift_total(5)

    def middle_day_only(_number: int, body: dict[str, Any]) -> bytes | None:
        records = body.get("results") or []
        if records and records[0]["timestamp"].startswith(middle.isoformat()):
            return orjson.dumps(wrong_total(body))
        return None

    proxy = EmulatorServer(MisbehavingProxy(server.base_url, middle_day_only)).start()  # type: ignore[arg-type]
    try:
        completed = interactions_load(tmp_path, api(proxy), first.isoformat(), last.isoformat())
    finally:
        proxy.stop()
    line = one_error_line(completed)  # exit code non-zero, one line, no traceback
    assert f"{middle}: {PER_DAY + 50:,} distinct records fetched, the server reports" in line, line
    assert "the day was not changed" in line and f"Landed: {first}, {last}" in line, line
    assert "The days that landed were refreshed downstream" in line, line

    # raw: the first and last days landed, the middle one as it was before the run.
    assert len(rows_of(warehouse, first)) == PER_DAY and len(rows_of(warehouse, last)) == PER_DAY
    assert rows_of(warehouse, middle) == before
    # Downstream was refreshed for the days that loaded, and published for analysts with a report.
    published = tmp_path / "w.published.duckdb"
    searches = "SELECT day, sum(searches) FROM marts.search_ctr GROUP BY 1 ORDER BY 1"
    per_day = "SELECT partition_date, count(*) FROM raw.interactions GROUP BY 1 ORDER BY 1"
    expected = [(first, PER_DAY // 10), (middle, PER_DAY // 10), (last, PER_DAY // 10)]
    assert counts(warehouse, searches) == expected
    assert counts(published, searches) == expected
    assert counts(published, per_day) == [(first, PER_DAY), (middle, PER_DAY), (last, PER_DAY)]
    assert (tmp_path / "reports" / "latest.html").exists()

    # Dagster's view: the load run failed, the middle partition failed (a backfill of failed and missing
    # partitions picks it up), the other two materialized, and the downstream assets were materialized.
    from dagster import AssetKey, DagsterInstance, DagsterRunStatus
    from dagster._core.storage.partition_status_cache import AssetPartitionStatus

    from interactions_etl.assets.raw import daily_partitions
    from interactions_etl.settings import Settings

    partitions = daily_partitions(Settings.defaults().interactions_start_date)
    with DagsterInstance.from_config(str(tmp_path / ".dagster_home")) as instance:
        runs = {run.job_name: run for run in instance.get_runs()}
        assert runs["interactions_job"].status == DagsterRunStatus.FAILURE
        loaded = instance.get_materialized_partitions(AssetKey("raw_interactions"))
        status = instance.get_status_by_partition(
            AssetKey("raw_interactions"), [d.isoformat() for d in (first, middle, last)], partitions
        )
        published_event = instance.get_latest_materialization_event(AssetKey("published_warehouse"))
        sensed = sense_refresh_after(instance, runs["interactions_job"], runs["interactions_refresh_job"])
    assert loaded == {first.isoformat(), last.isoformat()}
    assert status == {
        first.isoformat(): AssetPartitionStatus.MATERIALIZED,
        middle.isoformat(): AssetPartitionStatus.FAILED,
        last.isoformat(): AssetPartitionStatus.MATERIALIZED,
    }
    assert published_event is not None
    # Under the daemon (a backfill's range is one run too), the sensor queues the same refresh, except after the
    # CLI, whose own refresh came after the failed run.
    assert [type(answer).__name__ for answer in sensed] == ["SkipReason", "RunRequest"], sensed


def sense_refresh_after(instance: Any, failed_run: Any, refresh_run: Any) -> list[Any]:
    """`refresh_after_failed_days` on the failed run: with the CLI's refresh run, then without it."""
    from dagster import DagsterEventType, build_run_status_sensor_context

    from interactions_etl.definitions import build_definitions
    from interactions_etl.settings import Settings

    repository = build_definitions(Settings.defaults()).get_repository_def()
    sensor = repository.get_sensor_def("refresh_after_failed_days")
    failure = next(
        entry.dagster_event
        for entry in instance.all_logs(failed_run.run_id, of_type=DagsterEventType.RUN_FAILURE)
        if entry.dagster_event
    )
    context = build_run_status_sensor_context(
        "refresh_after_failed_days", failure, instance, failed_run
    ).for_run_failure()
    answers = [sensor(context)]
    instance.delete_run(refresh_run.run_id)
    answers.append(sensor(context))
    return answers
