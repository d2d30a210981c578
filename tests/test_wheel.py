"""The package as users install it: the wheel built from this checkout, installed with its dependencies into a
fresh virtual environment, runs `interactions demo` in a folder outside the checkout."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# pip downloads and unpacks ~110 wheels (the pip cache of the set-up makes it local): about a minute.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def build_wheel(folder: Path) -> Path:
    """`pip wheel` on a copy of what the wheel is made of (the build writes build/ and egg-info beside its
    sources), with this environment's setuptools (no download)."""
    source = folder / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pipelines", "assets", "sql", "mixpeek_emulator"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--disable-pip-version-check",
         "-q", "-w", str(folder / "dist"), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = (folder / "dist").glob("interactions_etl-*.whl")
    return wheel


def locked_versions() -> str:
    """requirements.lock as pip constraints (name==version, no hashes): the wheel's dependencies resolve to
    the versions the suite runs with."""
    pins = re.findall(r"^([A-Za-z0-9_.\-\[\]]+==[^\s;\\]+)", (ROOT / "requirements.lock").read_text(), re.M)
    return "\n".join(pins) + "\n"


def test_the_wheel_installs_and_runs_the_demo_outside_the_checkout(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    # The product's import package and the emulator's, nothing generic at the top level, and every data file the
    # code reads.
    assert {n.split("/")[0] for n in names} == {
        "interactions_etl",
        "mixpeek_emulator",
        "interactions_etl-0.1.0.dist-info",
    }
    shipped = {
        n.removeprefix("interactions_etl/sql/") for n in names if n.startswith("interactions_etl/sql/")
    }
    expected = {p.relative_to(ROOT / "sql").as_posix() for p in (ROOT / "sql").rglob("*.sql")}
    assert expected and expected <= shipped
    for data in ("dagster.yaml", "report/template.html.j2", "report/vendor/plotly-basic.min.js"):
        assert f"interactions_etl/{data}" in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    constraints = tmp_path / "constraints.txt"
    constraints.write_text(locked_versions())

    def install(requirement: str) -> None:
        done = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--no-compile",
             "-q", "-c", str(constraints), requirement],
            capture_output=True, text=True, timeout=800,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]

    away = tmp_path / "elsewhere"  # no checkout, no sql/ folder, nothing on sys.path but the venv
    away.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MIXPEEK_", "WAREHOUSE_", "INTERACTIONS_", "REPORTS_DIR", "DAGSTER_HOME",
                                "PYTHONPATH", "VIRTUAL_ENV"))}  # fmt: skip

    # The emulator's dependencies are the `emulator` extra's alone (Dagster's webserver brings Starlette and
    # uvicorn anyway; sortedcontainers comes with the emulator only).
    metadata = zipfile.ZipFile(wheel).read("interactions_etl-0.1.0.dist-info/METADATA").decode()
    for name in ("starlette", "uvicorn", "sortedcontainers"):
        (line,) = [r for r in metadata.splitlines() if r.startswith(f"Requires-Dist: {name}")]
        assert 'extra == "emulator"' in line, line
    # The product alone: its Dagster definitions load without the emulator, and the demo, which needs it, says
    # in one line which extra to install.
    install(str(wheel))
    product = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import importlib.util as u, interactions_etl.definitions; print(u.find_spec('sortedcontainers') is None)"],
        cwd=away, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert product.returncode == 0 and product.stdout.strip() == "True", product.stdout + product.stderr
    without = subprocess.run(
        [str(venv / "bin" / "interactions"), "demo", "--days", "1", "--per-day", "100"],
        cwd=away, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert without.returncode == 2, without.stdout + without.stderr
    assert "pip install 'interactions-etl[emulator]'" in without.stderr and "Traceback" not in without.stderr

    install(f"{wheel}[emulator]")
    demo = subprocess.run(
        [str(venv / "bin" / "interactions"), "demo", "--days", "2", "--per-day", "2000"],
        cwd=away, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-3000:]
    assert (away / "warehouse.published.duckdb").exists() and (away / "reports" / "latest.html").exists()
    # The command ran the installed package, not this checkout.
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import interactions_etl, sys; print(interactions_etl.__file__)"],
        cwd=away, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(venv) and str(ROOT) not in where.stdout
    for generic in ("pipelines", "assets", "sql"):
        probe = subprocess.run([str(venv / "bin" / "python"), "-c", f"import {generic}"], cwd=away, env=env,
                               capture_output=True, timeout=120)  # fmt: skip
        assert probe.returncode != 0, f"the wheel installs a top-level `{generic}`"
