"""Issue 13: the loader against servers that misbehave in ways the emulator never does. Each case ends with
exactly the server's records landed once, or with a failure and the day's rows identical before and after
(compared, not assumed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from pipelines.emulator.server import EmulatorServer
from pipelines.landing import load_day
from pipelines.mixpeek.errors import MixpeekApiError
from tests.pipeline.conftest import DAY, fill, make_client, spread_over_day
from tests.reliability.misbehaving import MisbehavingProxy, Rewrite, always, first

RECORDS = 2500  # three pages of 1000


@pytest.fixture
def proxied(server: EmulatorServer) -> Iterator[Callable[[Rewrite], EmulatorServer]]:
    """`proxied(rewrite)`: a misbehaving proxy in front of the test emulator, which holds RECORDS on DAY."""
    fill(server, spread_over_day(RECORDS))
    started: list[EmulatorServer] = []

    def start(rewrite: Rewrite) -> EmulatorServer:
        proxy = EmulatorServer(MisbehavingProxy(server.base_url, rewrite)).start()  # type: ignore[arg-type]
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def day_rows(path: Path) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(
            "SELECT * EXCLUDE (loaded_at, run_id) FROM raw.interactions WHERE partition_date = ? ORDER BY ALL",
            [DAY],
        ).fetchall()
    finally:
        con.close()


def load(server: EmulatorServer, path: Path) -> None:
    with make_client(server) as client:
        load_day(client, str(path), DAY, "run-test", sub_windows=1)


@pytest.fixture
def loaded_once(server: EmulatorServer, proxied, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """A warehouse holding the day as a good load left it."""
    path = tmp_path / "warehouse.duckdb"
    load(server, path)
    assert len(day_rows(path)) == RECORDS
    return path


def null_results(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "results": None, "items": None}


def no_results(body: dict[str, Any]) -> dict[str, Any]:
    return {"pagination": body.get("pagination")}


def error_envelope(_body: dict[str, Any]) -> dict[str, Any]:
    return {
        "success": False,
        "status": 503,
        "error": {"type": "ServiceUnavailable", "message": "upstream busy"},
    }


@pytest.mark.parametrize("change", [null_results, no_results, error_envelope], ids=lambda f: f.__name__)
def test_a_200_without_records_is_retried_and_the_day_lands_whole(proxied, tmp_path: Path, change) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "warehouse.duckdb"
    load(proxied(first(2, change)), path)
    assert len(day_rows(path)) == RECORDS


@pytest.mark.parametrize("change", [null_results, no_results, error_envelope], ids=lambda f: f.__name__)
def test_a_server_that_keeps_answering_without_records_fails_and_keeps_the_day(  # type: ignore[no-untyped-def]
    proxied, loaded_once: Path, change
) -> None:
    before = day_rows(loaded_once)
    with pytest.raises(MixpeekApiError, match="InvalidResponse") as failure:
        load(proxied(always(change)), loaded_once)
    assert "without a list of results" in str(failure.value) or "error envelope" in str(failure.value)
    assert day_rows(loaded_once) == before  # not wiped, not half-written


def test_pagination_fields_the_loader_does_not_read_never_fail_a_load(proxied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    def odd_pagination(body: dict[str, Any]) -> dict[str, Any]:
        pagination = {
            **body["pagination"],
            "page": "1",
            "page_size": "1000",
            "total_pages": "n/a",
            "new": [1],
        }
        return {**body, "pagination": pagination}

    path = tmp_path / "warehouse.duckdb"
    load(proxied(always(odd_pagination)), path)
    assert len(day_rows(path)) == RECORDS


def shift_total(delta: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(body: dict[str, Any]) -> dict[str, Any]:
        pagination = dict(body.get("pagination") or {})
        if pagination.get("total") is not None:
            pagination["total"] += delta
        return {**body, "pagination": pagination}

    return change


@pytest.mark.parametrize("delta", [5, -500], ids=["total_above_what_is_served", "total_below_what_is_held"])
def test_a_day_whose_count_disagrees_with_the_server_fails_its_audit_before_commit(  # type: ignore[no-untyped-def]
    proxied, loaded_once: Path, delta: int
) -> None:
    """Write-audit-publish: the day is landed and audited inside its transaction; a count that disagrees with the
    server's total rolls it back, with the figures, instead of committing and checking afterwards."""
    from pipelines.landing import LoadAuditError

    before = day_rows(loaded_once)
    with pytest.raises(LoadAuditError) as failure:
        load(proxied(always(shift_total(delta))), loaded_once)
    assert f"{RECORDS:,} distinct records fetched, the server reports {RECORDS + delta:,}" in str(
        failure.value
    )
    assert "the day was not changed" in str(failure.value)
    assert day_rows(loaded_once) == before


def test_duplicates_do_not_count_towards_the_total(proxied, loaded_once: Path) -> None:  # type: ignore[no-untyped-def]
    """Records repeated on another page (ties reordered between requests) are counted once: a page that repeats
    one record and drops another used to pass, because fetched records were counted with their duplicates."""
    from pipelines.landing import LoadAuditError

    def repeat_and_drop(number: int, body: dict[str, Any]) -> bytes | None:
        if number == 2:  # the second page: its first record replaced by the first page's last one
            body["results"][0] = remembered["last"]
        remembered["last"] = body["results"][-1]
        return orjson.dumps(body)

    remembered: dict[str, Any] = {}
    before = day_rows(loaded_once)
    with pytest.raises(
        LoadAuditError, match=f"{RECORDS - 1:,} distinct records fetched, the server reports {RECORDS:,}"
    ):
        load(proxied(repeat_and_drop), loaded_once)
    assert day_rows(loaded_once) == before


def test_the_cli_says_in_one_line_which_day_failed_and_why(proxied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys

    from tests.pipeline.conftest import API_KEY, NAMESPACE

    proxy = proxied(always(shift_total(5)))  # on each of the five sub-windows' first page
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MIXPEEK_", "DAGSTER_"))},
        "MIXPEEK_BASE_URL": proxy.base_url,
        "MIXPEEK_API_KEY": API_KEY,
        "MIXPEEK_NAMESPACE": NAMESPACE,
        "MIXPEEK_REQUESTS_PER_SECOND": "500",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "load", "--start", DAY.isoformat(), "--end", DAY.isoformat(),
         "--warehouse", str(tmp_path / "w.duckdb")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert "Traceback" not in output and API_KEY not in output
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    assert f"{DAY}: {RECORDS:,} distinct records fetched, the server reports {RECORDS + 25:,}" in errors[0]
    assert "the day was not changed" in errors[0]
