"""The Dagster asset writes the report for the marts' window and keeps INTERACTIONS_REPORTS_KEEP dated reports."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import materialize

from interactions_etl.assets.report import ReportConfig, position_bias_report
from interactions_etl.resources import WarehouseResource


def test_the_asset_keeps_the_configured_number_of_reports(
    hand_built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    for day in ("2026-09-01", "2026-09-02", "2026-09-03"):
        (folder / f"position_bias_{day}.html").write_text(day)
    monkeypatch.setenv("INTERACTIONS_REPORTS_KEEP", "2")
    result = materialize(
        [position_bias_report],
        resources={"warehouse_db": WarehouseResource(path=str(hand_built))},
        run_config={"ops": {"position_bias_report": {"config": {"reports_dir": str(folder)}}}},
    )
    assert result.success
    metadata = result.asset_materializations_for_node("position_bias_report")[0].metadata
    assert metadata["pruned"].value == 2 and metadata["plotly_bundle"].value == "basic"
    # The marts' window ends on the hand-built day; the newest 2 dated reports stay, latest.html too.
    assert sorted(p.name for p in folder.iterdir()) == [
        "latest.html", "position_bias_2026-09-03.html", "position_bias_2026-10-05.html"
    ]  # fmt: skip
    # The asset's own config wins over the environment; a bad variable fails in words when it is read.
    assert ReportConfig(reports_keep=5).keep() == 5
    monkeypatch.setenv("INTERACTIONS_REPORTS_KEEP", "0")
    with pytest.raises(ValueError, match="INTERACTIONS_REPORTS_KEEP: '0' is not a number of reports to keep"):
        ReportConfig().keep()
    monkeypatch.delenv("INTERACTIONS_REPORTS_KEEP")
    assert ReportConfig().keep() == 30
