"""The Dagster asset writes the report for the marts' window and keeps INTERACTIONS_REPORTS_KEEP dated reports."""

from __future__ import annotations

from pathlib import Path

from dagster import materialize

from interactions_etl.assets.report import position_bias_report
from interactions_etl.resources import ReportsResource, WarehouseResource


def test_the_asset_keeps_the_configured_number_of_reports(hand_built: Path, tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    for day in ("2026-09-01", "2026-09-02", "2026-09-03"):
        (folder / f"position_bias_{day}.html").write_text(day)
    resources = {
        "warehouse_db": WarehouseResource(path=str(hand_built)),
        # INTERACTIONS_REPORTS_KEEP=2, as the definitions pass it on; the folder is the run's override.
        "reports": ReportsResource(folder=str(tmp_path / "elsewhere"), keep=2),
    }
    result = materialize(
        [position_bias_report],
        resources=resources,
        run_config={"ops": {"position_bias_report": {"config": {"reports_dir": str(folder)}}}},
    )
    assert result.success
    metadata = result.asset_materializations_for_node("position_bias_report")[0].metadata
    assert metadata["pruned"].value == 2 and metadata["plotly_bundle"].value == "basic"
    # The marts' window ends on the hand-built day; the newest 2 dated reports stay, latest.html too.
    assert sorted(p.name for p in folder.iterdir()) == [
        "latest.html", "position_bias_2026-09-03.html", "position_bias_2026-10-05.html"
    ]  # fmt: skip
    assert not (tmp_path / "elsewhere").exists()
    # The run's own count wins over the resource's.
    result = materialize(
        [position_bias_report],
        resources=resources,
        run_config={
            "ops": {"position_bias_report": {"config": {"reports_dir": str(folder), "reports_keep": 1}}}
        },
    )
    assert result.success
    assert sorted(p.name for p in folder.iterdir()) == ["latest.html", "position_bias_2026-10-05.html"]
