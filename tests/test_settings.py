"""One settings object: the environment is read in interactions_etl.settings only (and dev.py), once, at the
edges; `interactions config` shows it with secrets masked; README's table is its output."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from datetime import date, time
from pathlib import Path

import pytest

from interactions_etl.settings import Settings, SettingsError, load_settings, markdown_table

ROOT = Path(__file__).resolve().parents[1]
SOURCE_FOLDERS = ("pipelines", "assets")


def environment_reads(path: Path) -> list[str]:
    """`os.environ`, `os.getenv`, `environ[...]`, `getenv(...)` and Dagster's `EnvVar` in a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        name = None
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv", "environb"):
            name = node.attr
        elif isinstance(node, ast.Name) and node.id in ("environ", "getenv", "EnvVar"):
            name = node.id
        elif isinstance(node, ast.ImportFrom) and any(
            a.name in ("environ", "getenv", "EnvVar") for a in node.names
        ):
            name = "import"
        if name:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    return found


def test_the_environment_is_read_in_the_settings_module_only() -> None:
    modules = [p for folder in SOURCE_FOLDERS for p in sorted((ROOT / folder).rglob("*.py"))]
    assert len(modules) > 25  # the walk found the code (the emulator, its own package, reads its own)
    reads = [hit for p in modules if p.name != "settings.py" or p.parent.name != "pipelines"
             for hit in environment_reads(p)]  # fmt: skip
    assert reads == []
    # The check finds what it looks for: the settings module itself reads the environment (through
    # pydantic-settings) and builds Dagster's EnvVar references there.
    assert environment_reads(ROOT / "pipelines" / "settings.py")


def test_importing_the_package_reads_no_setting(tmp_path: Path) -> None:
    """Every module imports with garbage in every variable: nothing is read at import time (the definitions
    read the settings when Dagster loads them, the CLI when a command runs)."""
    modules = []
    for folder, package in (("pipelines", "interactions_etl"), ("assets", "interactions_etl.assets")):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "__main__.py":  # runs its command when imported, by definition
                continue
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            modules.append(".".join((package, *(p for p in parts if p != "__init__"))))
    env = {**os.environ, **{Settings.variable(name): "not-a-value" for name in Settings.model_fields}}
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\nprint('ok')"
    completed = subprocess.run([sys.executable, "-c", code, *modules], env=env, cwd=tmp_path,
                               capture_output=True, text=True, timeout=120)  # fmt: skip
    assert completed.returncode == 0 and completed.stdout.strip() == "ok", completed.stderr[-2000:]


def test_settings_parse_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(Settings.variable(name), raising=False)
    assert load_settings() == Settings.defaults()
    monkeypatch.setenv("INTERACTIONS_START_DATE", "2024-06-01")
    monkeypatch.setenv("INTERACTIONS_FRESHNESS_DEADLINE_UTC", "07:30")
    monkeypatch.setenv("MIXPEEK_RETRIEVER_ID", "")  # empty is unset, as .env.example leaves it
    monkeypatch.setenv("MIXPEEK_BASE_URL", "http://127.0.0.1:8765/")
    settings = load_settings()
    assert settings.interactions_start_date == date(2024, 6, 1)
    assert settings.interactions_freshness_deadline_utc == time(7, 30)
    assert settings.mixpeek_retriever_id is None and settings.mixpeek_base_url == "http://127.0.0.1:8765"
    assert settings.model_fields_set == {"interactions_start_date", "interactions_freshness_deadline_utc",
                                         "mixpeek_base_url"}  # fmt: skip


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("INTERACTIONS_LOOKBACK_DAYS", "two", "INTERACTIONS_LOOKBACK_DAYS is 'two': Input should be a valid integer"),
        ("INTERACTIONS_REPORTS_KEEP", "0", "INTERACTIONS_REPORTS_KEEP is '0': Input should be greater than or equal to 1"),
        ("WAREHOUSE_LOCK_TIMEOUT_SECONDS", "soon", "WAREHOUSE_LOCK_TIMEOUT_SECONDS is 'soon': Input should be a valid number"),
        ("INTERACTIONS_START_DATE", "2025-13-01", "INTERACTIONS_START_DATE is '2025-13-01': Input should be a valid date"),
    ],
)  # fmt: skip
def test_a_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_config_prints_the_effective_settings_with_secrets_masked(tmp_path: Path) -> None:
    secret, pseudonym_key = "sk_live_NEVER_PRINTED_41c9", "pk_NEVER_PRINTED_77aa"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MIXPEEK_", "WAREHOUSE_", "INTERACTIONS_"))
    }
    env |= {"MIXPEEK_API_KEY": secret, "INTERACTIONS_PSEUDONYMISE_KEY": pseudonym_key,
            "WAREHOUSE_PATH": "/data/w.duckdb", "INTERACTIONS_LOOKBACK_DAYS": "4"}  # fmt: skip
    completed = subprocess.run([sys.executable, "-m", "interactions_etl.cli", "config"], env=env, cwd=tmp_path,
                               capture_output=True, text=True, timeout=120)  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert secret not in out and pseudonym_key not in out and "NEVER_PRINTED" not in out
    lines = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(" ")}
    assert set(lines) == {Settings.variable(n) for n in Settings.model_fields}
    assert lines["MIXPEEK_API_KEY"].split()[1:] == ["********", "(environment)"]
    assert lines["WAREHOUSE_PATH"].split()[1:] == ["/data/w.duckdb", "(environment)"]
    assert lines["INTERACTIONS_LOOKBACK_DAYS"].split()[1:] == ["4", "(environment)"]
    assert lines["INTERACTIONS_NIGHTLY_CRON"].endswith("(default)")
    bad = subprocess.run([sys.executable, "-m", "interactions_etl.cli", "config"], cwd=tmp_path, timeout=120,
                         env={**env, "INTERACTIONS_LOOKBACK_DAYS": "x"}, capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.startswith("error: INTERACTIONS_LOOKBACK_DAYS is 'x'")


def test_readme_carries_the_settings_table() -> None:
    """README's configuration table is `interactions config --markdown`: a setting added, renamed or given a
    new default shows up as a difference here."""
    readme = (ROOT / "README.md").read_text()
    assert markdown_table() in readme, "regenerate it: python3 dev.py run interactions config --markdown"
    assert markdown_table().count("\n") == len(Settings.model_fields) + 2


def test_a_warehouse_file_named_like_a_schema_is_refused() -> None:
    """DuckDB names a file's database after its stem: `marts.duckdb` makes `marts.search_ctr` ambiguous."""
    with pytest.raises(SettingsError) as raised:
        load_settings(warehouse_path=Path("data/marts.duckdb"))
    assert "clashes with the warehouse's schema" in str(raised.value)
    assert (
        load_settings(warehouse_path=Path("data/marts-2026.duckdb")).warehouse_path.name
        == "marts-2026.duckdb"
    )
