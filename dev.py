#!/usr/bin/env python3
"""One entry point from a fresh machine (Python 3.11 and pip only): it creates `.venv`, installs the project,
then runs what you asked for.

    python3 dev.py demo      # emulator + a week of synthetic traffic -> DuckDB warehouse and report
    python3 dev.py test      # the test suite (lint first)
    python3 dev.py lint      # ruff check + ruff format --check
    python3 dev.py bench     # every benchmark, peers included (docs/benchmarks.md); --smoke: CI's few minutes
    python3 dev.py dagster   # the Dagster UI and daemon (`dg dev`) on the project's instance, .dagster_home/
    python3 dev.py run ARGS  # any command inside the environment, e.g. `python3 dev.py run interactions --help`

Commands run with DAGSTER_HOME=.dagster_home (unless set): the demo's and the CLI's runs, the schedule and the
UI share one persistent Dagster instance, whose dagster.yaml queues runs on the warehouse.

The environment is rebuilt only when pyproject.toml changes (a hash is kept in .venv).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".interactions-etl-installed"
DAGSTER_HOME = ROOT / ".dagster_home"


def _requirements_hash() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_environment() -> None:
    wanted = _requirements_hash()
    if STAMP.exists() and STAMP.read_text().strip() == wanted and (BIN / "python").exists():
        return
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs under whatever python3 the machine has
        sys.exit(f"Python 3.11 or newer is needed, this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print(f"creating the virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing interactions-etl and its dependencies (first run takes a few minutes) ...", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(wanted)


def ensure_chromium() -> None:
    """The report's browser test needs Debian's chromium package; install it where missing and we may."""
    if shutil.which("chromium") or shutil.which("chromium-browser") or os.environ.get("CHROMIUM"):
        return
    apt = shutil.which("apt-get")
    if not apt or os.geteuid() != 0:
        print(
            "chromium is missing and cannot be installed here (needs apt-get as root): the report's browser "
            "test will fail; install Debian's chromium package or set CHROMIUM=/path/to/chromium",
            flush=True,
        )
        return
    print("installing chromium (Debian package) for the report's browser test ...", flush=True)
    quiet = {"stdout": subprocess.DEVNULL, "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}}
    if subprocess.run([apt, "install", "-y", "-q", "chromium"], **quiet).returncode != 0:
        subprocess.run([apt, "update", "-q"], **quiet)
        subprocess.run([apt, "install", "-y", "-q", "chromium"], **quiet)


def ensure_benchmark_peers() -> None:
    """The `bench` extra (dlt) on top of the environment, once: peers are benchmark dependencies only."""
    if subprocess.run([str(BIN / "python"), "-c", "import dlt"], capture_output=True).returncode == 0:
        return
    print("installing the benchmark peers (dlt) ...", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "-e", f"{ROOT}[dev,bench]"], check=True)


def run(*command: str) -> int:
    env = {**os.environ, "VIRTUAL_ENV": str(VENV), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.setdefault("DAGSTER_HOME", str(DAGSTER_HOME))
    return subprocess.run(list(command), cwd=ROOT, env=env).returncode


def ensure_dagster_home() -> None:
    """The instance folder with the project's dagster.yaml and pool limit (pipelines/instance.py)."""
    home = os.environ.get("DAGSTER_HOME") or str(DAGSTER_HOME)
    subprocess.run([str(BIN / "python"), "-m", "pipelines.instance", home], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "lint", "bench", "dagster", "run"):
        print(__doc__)
        return 2
    ensure_environment()
    task, rest = argv[0], argv[1:]
    if task == "demo":
        return run(str(BIN / "interactions"), "demo", *rest)
    if task == "dagster":
        ensure_dagster_home()
        return run(str(BIN / "dg"), "dev", *rest)
    if task == "lint":
        return run(str(BIN / "ruff"), "check", ".") or run(str(BIN / "ruff"), "format", "--check", ".")
    if task == "test":
        lint = main(["lint"])
        ensure_chromium()
        tests = run(str(BIN / "python"), "-m", "pytest", *rest)
        return tests or lint
    if task == "bench":
        if "--smoke" not in rest:  # the smoke run (CI) leaves the peers out: minutes, not an install
            ensure_benchmark_peers()
        return run(str(BIN / "python"), str(ROOT / "benchmarks" / "run_all.py"), *rest)
    ensure_dagster_home()
    return run(*rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
