"""Issue 15: the application installs from a lock. Every dependency pyproject.toml names (the dev extra too) is
pinned in requirements.lock to one exact version, with hashes, inside pyproject's range; the benchmark lock
holds the same versions plus the peers. A lock that drifts from pyproject.toml fails here, before an install."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.M)


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text)
    found = {}
    for entry in entries:
        match = PIN.match(entry)
        if match:
            assert "--hash=sha256:" in entry, f"{match[1]} is pinned without a hash in {lock}"
            found[canonicalize_name(match[1])] = match[2]
    return found


def declared(*extras: str) -> list[Requirement]:
    """The dependencies and those of `extras`, an extra that names the project itself (`dev` takes
    `interactions-etl[emulator]`) replaced by that extra's own."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = list(project["dependencies"])
    wanted, seen = list(extras), set()
    while wanted:
        extra = wanted.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for name in project["optional-dependencies"][extra]:
            requirement = Requirement(name)
            if canonicalize_name(requirement.name) == canonicalize_name(project["name"]):
                wanted += sorted(requirement.extras)
            else:
                names.append(name)
    return [Requirement(name) for name in names]


@pytest.mark.parametrize(("lock", "extras"), [("requirements.lock", ("dev",)),
                                              ("requirements-bench.lock", ("dev", "bench"))])  # fmt: skip
def test_every_declared_dependency_is_pinned_inside_its_range(lock: str, extras: tuple[str, ...]) -> None:
    pinned = pins(lock)
    for requirement in declared(*extras):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement} is not in {lock}: run `python3 dev.py lock`"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{lock} pins {name}=={pinned[name]}, outside pyproject.toml's {requirement}"
        )


def test_the_benchmark_lock_keeps_the_application_versions() -> None:
    application, bench = pins("requirements.lock"), pins("requirements-bench.lock")
    differ = {
        name: (version, bench.get(name))
        for name, version in application.items()
        if bench.get(name) != version
    }
    assert differ == {}
