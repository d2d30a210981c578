"""The Dagster wiring: definitions load, the schedule asks for the right days, a partition materialises twice
to the same table on a temp DuckDB file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from dagster import (
    AssetCheckSeverity,
    AssetKey,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    Definitions,
    build_schedule_context,
    instance_for_test,
    materialize,
)
from dagster._core.definitions.schedule_definition import ScheduleExecutionData
from dagster._core.remote_origin import GrpcServerCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin

from interactions_etl.assets.raw import build_raw_interactions, daily_partitions
from interactions_etl.resources import MixpeekResource, ReportsResource, WarehouseResource
from interactions_etl.schedules import nightly_partition_keys
from interactions_etl.settings import Settings
from tests.pipeline.conftest import API_KEY, DAY, NAMESPACE, fill, spread_over_day

DEFAULTS = Settings.defaults()
# The raw asset as the shipped settings build it (first partition 2025-01-01, deadline 06:00 UTC).
raw_interactions = build_raw_interactions(
    daily_partitions(DEFAULTS.interactions_start_date), DEFAULTS.interactions_freshness_deadline_utc
)


def resources_for(server, warehouse: Path) -> dict[str, object]:
    """Dagster resources pointed at a test emulator and a temp DuckDB file."""
    return {
        "mixpeek": MixpeekResource(
            base_url=server.base_url, api_key=API_KEY, namespace=NAMESPACE, requests_per_second=500
        ),
        "warehouse_db": WarehouseResource(path=str(warehouse)),
        "reports": ReportsResource(folder=str(warehouse.parent / "reports")),
    }


def test_definitions_load(monkeypatch) -> None:
    monkeypatch.setenv("MIXPEEK_API_KEY", "sk_from_env")
    monkeypatch.setenv("MIXPEEK_NAMESPACE", "ns_env")
    from interactions_etl.definitions import defs as load_defs

    defs = load_defs()  # what Dagster does when the code location starts: the settings are read now
    Definitions.validate_loadable(defs)
    repository = defs.get_repository_def()
    assert repository.has_job("interactions_job")
    assert {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()} >= {
        "raw_interactions"
    }
    schedule = defs.get_schedule_def("nightly_interactions")
    assert schedule.cron_schedule == "0 2 * * *" and schedule.execution_timezone == "UTC"


@pytest.mark.parametrize("backend", ["file", "ducklake"])
def test_every_job_carries_the_run_limit_and_0_lifts_it(backend: str) -> None:
    """Run monitoring ends a run by its `dagster/max_runtime` tag: every job of both shapes carries it, so runs
    from the UI, the schedule, a backfill or the lake's sensor are all limited."""
    from interactions_etl.definitions import build_definitions

    lake = {
        "warehouse_backend": "ducklake",
        "ducklake_catalog": "host=db dbname=lake",
        "ducklake_data_path": "/d/",
    }
    extra = lake if backend == "ducklake" else {}
    defs = build_definitions(DEFAULTS.model_copy(update={"interactions_max_run_seconds": 900, **extra}))
    jobs = [job for job in defs.get_repository_def().get_all_jobs() if not job.name.startswith("__")]
    assert len(jobs) == (3 if backend == "ducklake" else 2)  # the file: interactions_job and the refresh
    assert all(job.tags.get("dagster/max_runtime") == "900" for job in jobs), [(j.name, j.tags) for j in jobs]
    unlimited = build_definitions(DEFAULTS.model_copy(update={"interactions_max_run_seconds": 0, **extra}))
    assert not any("dagster/max_runtime" in job.tags for job in unlimited.get_repository_def().get_all_jobs())


def test_nightly_schedule_loads_yesterday_and_the_lookback(monkeypatch) -> None:
    monkeypatch.setenv("MIXPEEK_API_KEY", "sk_from_env")
    monkeypatch.setenv("MIXPEEK_NAMESPACE", "ns_env")
    from interactions_etl.definitions import defs as load_defs

    defs = load_defs()
    tick = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)
    assert nightly_partition_keys(tick, 2) == ["2026-10-31", "2026-11-01", "2026-11-02"]
    schedule = defs.get_schedule_def("nightly_interactions")
    with (
        instance_for_test() as instance,
        build_schedule_context(
            instance=instance, scheduled_execution_time=tick, repository_def=defs.get_repository_def()
        ) as context,
    ):
        requests = list(schedule.evaluate_tick(context).run_requests or [])
    assert [r.partition_key for r in requests] == ["2026-10-31", "2026-11-01", "2026-11-02"]
    assert len({r.run_key for r in requests}) == 3


def test_a_tick_does_not_queue_a_day_whose_run_still_waits(monkeypatch) -> None:
    """Ticks faster than the runs (a frequent cron on a busy machine) keep one waiting run per day."""
    monkeypatch.setenv("MIXPEEK_API_KEY", "sk_from_env")
    monkeypatch.setenv("MIXPEEK_NAMESPACE", "ns_env")
    monkeypatch.setenv("INTERACTIONS_LOOKBACK_DAYS", "2")
    from interactions_etl.definitions import defs as load_defs

    defs = load_defs()
    schedule = defs.get_schedule_def("nightly_interactions")
    tick = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)

    def tick_result(instance: DagsterInstance) -> ScheduleExecutionData:
        with build_schedule_context(
            instance=instance, scheduled_execution_time=tick, repository_def=defs.get_repository_def()
        ) as context:
            return schedule.evaluate_tick(context)

    def add_run(
        instance: DagsterInstance, day: str, status: DagsterRunStatus, job: str = "interactions_job"
    ) -> None:
        # A queued run names the code location it is to be launched from (as the daemon's queue needs it).
        location = GrpcServerCodeLocationOrigin(host="127.0.0.1", port=4000, location_name="interactions_etl")
        origin = RemoteJobOrigin(
            repository_origin=RemoteRepositoryOrigin(location, "__repository__"), job_name=job
        )
        instance.add_run(
            DagsterRun(job_name=job, status=status, remote_job_origin=origin, tags={"dagster/partition": day})
        )

    with instance_for_test() as instance:
        # Waits in the queue: not queued again.
        add_run(instance, "2026-10-31", DagsterRunStatus.QUEUED)
        # Running, so it may have fetched before late events: queued again.
        add_run(instance, "2026-11-01", DagsterRunStatus.STARTED)
        # Done; queued for another job; created but never submitted: none holds the day back.
        add_run(instance, "2026-11-02", DagsterRunStatus.SUCCESS)
        add_run(instance, "2026-11-02", DagsterRunStatus.QUEUED, job="another_job")
        add_run(instance, "2026-11-02", DagsterRunStatus.NOT_STARTED)
        requests = tick_result(instance).run_requests or []
        assert [r.partition_key for r in requests] == ["2026-11-01", "2026-11-02"]

        add_run(instance, "2026-11-01", DagsterRunStatus.QUEUED)
        add_run(instance, "2026-11-02", DagsterRunStatus.QUEUED)
        result = tick_result(instance)
        assert not result.run_requests
        assert "2026-10-31" in (result.skip_message or "") and "2026-11-02" in (result.skip_message or "")


def test_materialize_a_partition_twice_gives_the_same_table(server, tmp_path: Path) -> None:
    from interactions_etl.assets.raw import CHECKS, NEWEST_DAY_CHECK, SOURCE_DUPLICATES_CHECK

    fill(server, spread_over_day(2200))
    warehouse = tmp_path / "warehouse.duckdb"
    resources = resources_for(server, warehouse)
    snapshots = []
    for _ in range(2):
        result = materialize([raw_interactions], partition_key=DAY.isoformat(), resources=resources)
        assert result.success
        metadata = result.asset_materializations_for_node("raw_interactions")[0].metadata
        assert metadata["rows"].value == 2200 and metadata["rejected"].value == 0
        assert {"pages", "requests", "retries", "seconds", "rows_per_second"} <= set(metadata)
        checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
        assert set(checks) == {*CHECKS, NEWEST_DAY_CHECK, SOURCE_DUPLICATES_CHECK}
        assert all(checks[name].passed for name in [*CHECKS, SOURCE_DUPLICATES_CHECK])
        # DAY lies weeks back: the warehouse is behind what the nightly promises, and the check says so.
        stale = checks[NEWEST_DAY_CHECK]
        assert not stale.passed and stale.severity == AssetCheckSeverity.WARN
        assert stale.metadata["newest_day_loaded"].value == DAY.isoformat()
        con = duckdb.connect(str(warehouse), read_only=True)
        snapshots.append(
            con.execute("SELECT * EXCLUDE (loaded_at, run_id) FROM raw.interactions ORDER BY ALL").fetchall()
        )
        con.close()
    assert snapshots[0] == snapshots[1] and len(snapshots[0]) == 2200


def test_a_server_holding_records_twice_lands_the_day_with_a_warning(server, tmp_path: Path) -> None:
    """Issue 25: copies the server holds land once, the day materializes, and the non-blocking check
    `source_duplicates` says how many, beside the materialization's metadata."""
    from interactions_etl.assets.raw import SOURCE_DUPLICATES_CHECK
    from tests.reliability.test_source_duplicates import RECORDS, held_twice

    fill(server, held_twice())
    result = materialize(
        [raw_interactions],
        partition_key=DAY.isoformat(),
        resources=resources_for(server, tmp_path / "w.duckdb"),
    )
    assert result.success
    metadata = result.asset_materializations_for_node("raw_interactions")[0].metadata
    assert metadata["rows"].value == RECORDS and metadata["server_total"].value == RECORDS + 3
    assert (metadata["source_duplicates"].value, metadata["conflicting_copies"].value) == (3, 1)
    check = next(c for c in result.get_asset_check_evaluations() if c.check_name == SOURCE_DUPLICATES_CHECK)
    assert not check.passed and check.severity == AssetCheckSeverity.WARN
    assert check.metadata["source_duplicates"].value == 3
    assert check.metadata["days_with_source_duplicates"].value == [DAY.isoformat()]


def test_dagster_cli_backfills_a_partition_range(server, tmp_path: Path) -> None:
    """`dagster asset materialize --partition-range` (what the README tells data teams to run): one run loads
    the days, then refreshes staging, the marts, the report and the analysts' copy."""
    import os
    import subprocess
    import sys
    from datetime import timedelta

    days = [DAY + timedelta(days=i) for i in range(3)]
    for i, day in enumerate(days):
        fill(server, spread_over_day(400 + i, day, start_index=10_000 * i))
    warehouse = tmp_path / "warehouse.duckdb"
    from interactions_etl.instance import ensure_dagster_home

    env = {
        **os.environ,
        "DAGSTER_HOME": str(ensure_dagster_home(tmp_path / "dagster_home")),
        "REPORTS_DIR": str(tmp_path / "reports"),
        "MIXPEEK_BASE_URL": server.base_url,
        "MIXPEEK_API_KEY": API_KEY,
        "MIXPEEK_NAMESPACE": NAMESPACE,
        "MIXPEEK_REQUESTS_PER_SECOND": "500",
        "WAREHOUSE_PATH": str(warehouse),
    }
    dagster = str(Path(sys.executable).with_name("dagster"))
    completed = subprocess.run(
        [dagster, "asset", "materialize", "-m", "interactions_etl.definitions", "--select", "raw_interactions*",
         "--partition-range", f"{days[0]}...{days[-1]}"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    output = completed.stdout + completed.stderr
    assert API_KEY not in output and "BetaWarning" not in output
    # The analysts' copy holds the range and the marts built from it; the report was written.
    con = duckdb.connect(str(tmp_path / "warehouse.published.duckdb"), read_only=True)
    counts = con.execute(
        "SELECT partition_date, count(*) FROM raw.interactions GROUP BY 1 ORDER BY 1"
    ).fetchall()
    searches = con.execute("SELECT day, sum(searches) FROM marts.search_ctr GROUP BY 1 ORDER BY 1").fetchall()
    con.close()
    assert counts == [(days[0], 400), (days[1], 401), (days[2], 402)]
    # spread_over_day: executions of 10 records, the last one short.
    assert searches == [(days[0], 40), (days[1], 41), (days[2], 41)]
    assert (tmp_path / "reports" / "latest.html").exists()


def test_the_workspace_loads_before_any_configuration(tmp_path: Path) -> None:
    """What `dagster dev` (workspace.yaml) and `dg dev` ([tool.dg] in pyproject.toml) load from the repository
    root, on a fresh clone with no Mixpeek variables set; `dg` with a clean start: no warning at all."""
    import os
    import subprocess
    import sys

    from interactions_etl.instance import ensure_dagster_home

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIXPEEK_", "WAREHOUSE_"))}
    env["DAGSTER_HOME"] = str(ensure_dagster_home(tmp_path))
    env["VIRTUAL_ENV"] = sys.prefix
    bin_dir = Path(sys.executable).parent
    completed = subprocess.run(
        [str(bin_dir / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert "All code locations passed validation" in completed.stdout + completed.stderr
    checked = subprocess.run(
        [str(bin_dir / "dg"), "check", "defs"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    output = checked.stdout + checked.stderr
    assert checked.returncode == 0, output[-3000:]
    assert "All definitions loaded successfully" in output
    assert "Warning" not in output and "WARNING" not in output, output[-3000:]


def test_staging_assets_follow_a_raw_load(server, tmp_path: Path) -> None:
    from dagster import AssetSelection

    from interactions_etl.assets.staging import staging_tables

    fill(server, spread_over_day(500))
    warehouse = tmp_path / "warehouse.duckdb"
    resources = resources_for(server, warehouse)
    assert materialize([raw_interactions], partition_key=DAY.isoformat(), resources=resources).success
    result = materialize([raw_interactions, staging_tables], selection=AssetSelection.assets(staging_tables),
                         resources=resources)  # fmt: skip
    assert result.success
    counts, schemas, names = {}, {}, {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        key = materialization.asset_key.to_user_string()
        counts[key] = materialization.metadata["dagster/row_count"].value
        schemas[key] = materialization.metadata["dagster/column_schema"].value
        names[key] = materialization.metadata["dagster/table_name"].value
    con = duckdb.connect(str(warehouse), read_only=True)
    # What the UI shows of each column is the warehouse's own COMMENT ON text, column for column.
    for key, schema in schemas.items():
        table = key.removeprefix("staging_")
        assert names[key] == f"warehouse.staging.{table}"
        catalog = con.execute(
            "SELECT column_name, data_type, comment FROM duckdb_columns() "
            "WHERE schema_name = 'staging' AND table_name = ? ORDER BY column_index",
            [table],
        ).fetchall()
        assert [(c.name, c.type, c.description) for c in schema.columns] == catalog
        assert all(comment for _, _, comment in catalog)
    expected = {
        "staging_interaction_events": con.execute(
            "SELECT count(*) FROM staging.interaction_events"
        ).fetchone()[0],
        "staging_search_executions": con.execute("SELECT count(*) FROM staging.search_executions").fetchone()[
            0
        ],
        "staging_result_slots": con.execute("SELECT count(*) FROM staging.result_slots").fetchone()[0],
    }
    con.close()
    # spread_over_day: 500 records, every third a two-type record, executions of 10 records.
    assert expected["staging_interaction_events"] == 500 + len(range(0, 500, 3))
    assert expected["staging_search_executions"] == 50
    assert counts == expected


def test_marts_follow_staging_with_their_checks(server, tmp_path: Path) -> None:
    from dagster import AssetSelection

    from interactions_etl.assets.marts import mart_tables
    from interactions_etl.assets.staging import staging_tables

    fill(server, spread_over_day(600))
    resources = resources_for(server, tmp_path / "warehouse.duckdb")
    assert materialize([raw_interactions], partition_key=DAY.isoformat(), resources=resources).success
    downstream = [staging_tables, mart_tables]
    result = materialize(
        [raw_interactions, *downstream], selection=AssetSelection.assets(*downstream), resources=resources
    )
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 9 and all(check.passed for check in checks)
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {
        "marts_ctr_by_position",
        "marts_search_ctr",
        "marts_skip_return_signals",
        "marts_query_health",
        "marts_conversion_rates",
        "marts_position_bias",
        "marts_document_ctr",
    } == {key for key in materialized if key.startswith("marts_")}


def test_interactions_load_command(server, tmp_path: Path) -> None:
    """`interactions load --start --end` as the README shows it: days inclusive, then staging and marts."""
    import os
    import subprocess
    import sys
    from datetime import timedelta

    for i in range(2):
        fill(server, spread_over_day(300, DAY + timedelta(days=i), start_index=10_000 * i))
    warehouse = tmp_path / "warehouse.duckdb"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MIXPEEK_", "DAGSTER_HOME"))},
        "MIXPEEK_BASE_URL": server.base_url,
        "MIXPEEK_API_KEY": API_KEY,
        "MIXPEEK_NAMESPACE": NAMESPACE,
        "MIXPEEK_REQUESTS_PER_SECOND": "500",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "interactions_etl.cli", "load", "--start", DAY.isoformat(),
         "--end", (DAY + timedelta(days=1)).isoformat(), "--warehouse", str(warehouse)],
        env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert f"{DAY}:" in completed.stdout and API_KEY not in completed.stdout + completed.stderr
    assert "Warning" not in completed.stdout + completed.stderr  # no Beta-, Supersession- or RuntimeWarning
    con = duckdb.connect(str(warehouse), read_only=True)
    per_day = con.execute(
        "SELECT partition_date, count(*) FROM raw.interactions GROUP BY 1 ORDER BY 1"
    ).fetchall()
    searches = con.execute("SELECT sum(searches) FROM marts.search_ctr").fetchone()[0]
    con.close()
    assert per_day == [(DAY, 300), (DAY + timedelta(days=1), 300)]
    assert searches == 60  # spread_over_day: executions of 10 records
    # The run is the nightly's job, recorded in the project's Dagster instance for `dagster dev` to show.
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(tmp_path / ".dagster_home")) as instance:
        runs = instance.get_runs()
        assert [(r.job_name, r.status.value) for r in runs] == [("interactions_job", "SUCCESS")]
        # A range is one run: run monitoring's limit is the setting's (3 h by default) times its two days.
        assert runs[0].tags["dagster/max_runtime"] == str(2 * 10_800)
        assert instance.run_monitoring_enabled  # the project's dagster.yaml, written by the CLI
        assert instance.get_latest_materialization_event(AssetKey("marts_search_ctr")) is not None
        loaded = instance.get_materialized_partitions(AssetKey("raw_interactions"))
    assert loaded == {DAY.isoformat(), (DAY + timedelta(days=1)).isoformat()}
    # Downstream of the marts, the report asset wrote its file (REPORTS_DIR unset: ./reports).
    assert (tmp_path / "reports" / "latest.html").exists()
    # And last, the analysts' copy, published beside the warehouse.
    published = duckdb.connect(str(tmp_path / "warehouse.published.duckdb"), read_only=True)
    assert published.execute("SELECT count(*) FROM raw.interactions").fetchall() == [(600,)]
    published.close()


def test_interactions_load_refuses_a_reversed_range(tmp_path: Path) -> None:
    import subprocess
    import sys

    completed = subprocess.run(
        [sys.executable, "-m", "interactions_etl.cli", "load", "--start", "2026-10-07", "--end", "2026-10-01"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert completed.returncode == 2 and "before --start" in completed.stderr


def test_a_failed_audit_fails_the_run_and_stops_what_is_downstream(make_server, tmp_path: Path) -> None:
    """A green run with stale marts is what the job must never give: a day failing its audit (here the
    quarantined share) fails the run, and staging, the marts, the report and the analysts' copy are not rebuilt."""
    from dagster import DagsterInstance

    from interactions_etl.definitions import build_definitions
    from mixpeek_emulator.faults import FaultConfig

    server = make_server(
        faults=FaultConfig(malformed_rate=1.0, scope="list", seed=3)
    )  # one bad record a page
    fill(server, spread_over_day(300))
    warehouse = tmp_path / "warehouse.duckdb"
    job = build_definitions(DEFAULTS, resources_for(server, warehouse)).resolve_job_def("interactions_job")
    strict = {"ops": {"raw_interactions": {"config": {"max_rejected_share": 0.0}}}}
    result = job.execute_in_process(
        partition_key=DAY.isoformat(), run_config=strict, instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )  # fmt: skip
    assert not result.success
    # The day failed its audit before it committed: nothing was materialized, raw holds nothing of it.
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "records quarantined" in failure.event_specific_data.error.message
    assert result.get_asset_materialization_events() == []
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute("SELECT count(*) FROM raw.interactions").fetchone() == (0,)
    con.close()
    assert not (tmp_path / "warehouse.published.duckdb").exists()


def test_freshness_follows_the_nightly_deadline(monkeypatch) -> None:
    """The daemon's freshness policy and the newest-day check both hold the schedule's promise: yesterday is
    loaded and published by the deadline (06:00 UTC by default)."""
    from datetime import time as clock

    from dagster import AssetKey

    from interactions_etl.assets.policies import newest_expected_day
    from interactions_etl.definitions import build_definitions

    deadline = clock(6, 0)
    assert newest_expected_day(datetime(2026, 11, 3, 5, 59, tzinfo=UTC), deadline).isoformat() == "2026-11-01"
    assert newest_expected_day(datetime(2026, 11, 3, 6, 0, tzinfo=UTC), deadline).isoformat() == "2026-11-02"
    graph = build_definitions(DEFAULTS).resolve_asset_graph()
    for key in ("raw_interactions", "published_warehouse"):
        policy = graph.get(AssetKey(key)).freshness_policy
        assert policy is not None and policy.deadline_cron == "0 6 * * *"
        assert policy.lower_bound_delta.total_seconds() == 24 * 3600
    # The deadline is a setting: the policies follow it.
    later = DEFAULTS.model_copy(update={"interactions_freshness_deadline_utc": clock(7, 30)})
    graph = build_definitions(later).resolve_asset_graph()
    assert {
        graph.get(AssetKey(k)).freshness_policy.deadline_cron
        for k in ("raw_interactions", "published_warehouse")
    } == {"30 7 * * *"}


def test_each_table_is_described_once_the_assets_show_the_catalogs_words(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An asset's description is its table's COMMENT ON text, as a warehouse built from sql/ holds it."""
    from dagster import AssetKey

    from interactions_etl import warehouse
    from interactions_etl.definitions import build_definitions
    from interactions_etl.marts import ensure_mart_tables

    defs = build_definitions(DEFAULTS)

    con = warehouse.connect(tmp_path / "w.duckdb")
    ensure_mart_tables(con)
    comments = dict(
        con.execute(
            "SELECT schema_name || '.' || table_name, comment FROM duckdb_tables()"
            " WHERE schema_name IN ('raw', 'staging', 'marts')"
        ).fetchall()
    )
    con.close()
    tables = {"raw_interactions": "raw.interactions"} | {
        key: key.replace("_", ".", 1) for key in ("staging_interaction_events", "staging_search_executions",
                                                   "staging_result_slots", "marts_search_ctr", "marts_position_bias")
    }  # fmt: skip
    for key, table in tables.items():
        spec = defs.resolve_assets_def(key).specs_by_key[AssetKey(key)]
        assert comments[table] and comments[table] in spec.description, key


def test_one_segment_that_does_not_converge_holds_back_nothing_else(server, tmp_path: Path) -> None:
    """Issue 31: with one retriever's EM stopped at its cap (the traffic of tests/estimators/unconverging.py,
    the cap lowered to EM_MAX_ITERATIONS), the nightly job succeeds: the exact marts, the other segments' curves,
    the report and the analysts' copy are all built; the shaky segment's rows are flagged (examination NULL,
    identifiable false, a note), the convergence check warns naming it, and the report says it in a sentence."""
    from dagster import DagsterInstance

    from interactions_etl.definitions import build_definitions
    from tests.estimators.unconverging import EM_MAX_ITERATIONS, SHAKY, records, searches

    found = searches()
    fill(server, records(found, DAY))
    warehouse = tmp_path / "warehouse.duckdb"
    job = build_definitions(DEFAULTS, resources_for(server, warehouse)).resolve_job_def("interactions_job")
    marts_config = {"em_max_iterations": EM_MAX_ITERATIONS, "bootstrap_replicates": 5}
    result = job.execute_in_process(
        partition_key=DAY.isoformat(), run_config={"ops": {"mart_tables": {"config": marts_config}}},
        instance=DagsterInstance.ephemeral(), raise_on_error=False,
    )  # fmt: skip
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"marts_ctr_by_position", "marts_search_ctr", "marts_position_bias", "marts_document_ctr",
            "position_bias_report", "published_warehouse"} <= materialized  # fmt: skip
    check = next(c for c in result.get_asset_check_evaluations() if c.check_name == "em_converged")
    assert not check.passed and check.severity == AssetCheckSeverity.WARN
    assert check.metadata["segments"].value == [f"retriever:{SHAKY}"]

    # The analysts' copy: the exact marts, every segment's counts, the flag on the shaky one only.
    con = duckdb.connect(str(tmp_path / "warehouse.published.duckdb"), read_only=True)
    curves = con.execute(
        "SELECT segment_type || ':' || segment, bool_and(em_converged), bool_or(identifiable), count(examination),"
        " sum(impressions), any_value(note) FROM marts.position_bias GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    searched = con.execute("SELECT sum(searches) FROM marts.search_ctr").fetchone()[0]
    shown = con.execute("SELECT sum(impressions) FROM marts.ctr_by_position").fetchone()[0]
    con.close()
    by_segment = {row[0]: row[1:] for row in curves}
    assert set(by_segment) == {"all:all", "device:desktop", "device:mobile", "retriever:ret_steady",
                               f"retriever:{SHAKY}"}  # fmt: skip
    converged, identifiable, examinations, impressions, note = by_segment.pop(f"retriever:{SHAKY}")
    assert (converged, identifiable, examinations, impressions) == (False, False, 0, 2 * 2 * 204 * 5)
    assert note.startswith(f"EM did not converge in {EM_MAX_ITERATIONS} iterations")
    assert all(row[0] and row[1] and row[2] == 5 for row in by_segment.values()), by_segment
    assert searched == len(found) and shown == 5 * len(found)

    # The report names the segment whose curve it does not show, and why.
    page = (tmp_path / "reports" / "latest.html").read_text()
    assert f"The position effect of retriever {SHAKY} is not shown: EM did not converge in" in page
    assert f"The model fit did not converge for retriever {SHAKY}" in page


def test_the_convergence_check_is_an_error_only_for_all_traffic_and_never_blocks() -> None:
    """A retriever's or a device's fit: WARN. All traffic's (with fitted pairs, as the check's SQL counts): ERROR,
    the report's headline curve being gone, but still not blocking: the exact marts and the copy publish."""
    from interactions_etl.assets.marts import em_converged_result, mart_tables

    spec = next(s for s in mart_tables.check_specs if s.name == "em_converged")
    assert not spec.blocking
    assert em_converged_result([]).passed
    assert em_converged_result(["device:mobile"]).severity == AssetCheckSeverity.WARN
    assert em_converged_result(["all:all", "device:mobile"]).severity == AssetCheckSeverity.ERROR
