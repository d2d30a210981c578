"""The code's shape, in the figures issue 27 (one place for each thing) is judged by: SQL files, functions over
60 and 80 lines, the longest function of each module, the places that ask which backend they are on, the
emulator's share of the product package and, where the `duplicates` command is on PATH, the duplicate pairs.

    .venv/bin/python benchmarks/code_shape.py [--markdown]

Static reading only (ast and text): nothing is imported or run. docs/architecture.md holds the figures."""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("pipelines", "assets")  # the installed code; tests and benchmarks are not counted
EMULATOR = ROOT / "mixpeek_emulator"
# A line that decides by backend: the setting read, or the lake told from the file by type or by None.
BACKEND_QUESTION = re.compile(
    r"warehouse_backend\s*[!=]=|isinstance\([^)]*\bLake\)|\blake is (not )?None|backend\s*[!=]=\s*['\"]"
)


@dataclass(frozen=True)
class Function:
    module: str
    name: str
    lines: int


def product_files() -> list[Path]:
    return sorted(path for folder in PRODUCT for path in (ROOT / folder).rglob("*.py"))


def functions(path: Path) -> list[Function]:
    tree = ast.parse(path.read_text(), filename=str(path))
    module = str(path.relative_to(ROOT))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            found.append(Function(module, node.name, node.end_lineno - first + 1))
    return found


def backend_questions(files: list[Path]) -> list[str]:
    hits = []
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            code = line.split("#", 1)[0]
            if BACKEND_QUESTION.search(code):
                hits.append(f"{path.relative_to(ROOT)}:{number}")
    return hits


def duplicate_pairs() -> tuple[int, int] | None:
    """(pairs, pairs not marked boilerplate) from the `duplicates` command, or None where it is not installed."""
    command = shutil.which("duplicates")
    if command is None:
        return None
    output = subprocess.run(
        [command, "--repo", str(ROOT), "--most", "200", "--seconds", "120"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    rows = [line for line in output.splitlines() if re.match(r"D\d+ ", line)]
    return len(rows), sum("boilerplate" not in row for row in rows)


def lines_of(files: list[Path]) -> int:
    return sum(len(path.read_text().splitlines()) for path in files)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    files = product_files()
    every = [f for path in files for f in functions(path)]
    over_60 = sorted((f for f in every if f.lines > 60), key=lambda f: -f.lines)
    over_80 = [f for f in over_60 if f.lines > 80]
    longest: dict[str, Function] = {}
    for f in every:
        if f.module not in longest or f.lines > longest[f.module].lines:
            longest[f.module] = f
    questions = backend_questions(files)
    # Counted in the product's package until issue 27 moved it to its own (mixpeek_emulator/).
    emulator_files = sorted(EMULATOR.rglob("*.py"))
    inside = EMULATOR.parent.name in PRODUCT
    emulator_share = lines_of(emulator_files) / max(
        lines_of(files) + (0 if inside else lines_of(emulator_files)), 1
    )
    print(f"SQL files: {len(list((ROOT / 'sql').rglob('*.sql')))}")
    print(f"product functions over 80 lines: {len(over_80)}; over 60 lines: {len(over_60)}")
    for f in over_60:
        print(f"  {f.lines:4d}  {f.module}::{f.name}")
    print(f"lines that ask which backend they are on: {len(questions)}")
    for hit in questions:
        print(f"  {hit}")
    where = "inside the product's package" if inside else "its own package, outside the product's install"
    print(f"emulator's share of the Python lines: {emulator_share:.0%} ({where})")
    pairs = duplicate_pairs()
    if pairs is not None:
        print(f"duplicate pairs (whole tree, `duplicates`): {pairs[0]}, of which not boilerplate: {pairs[1]}")
    print("longest function per module:")
    for module, f in sorted(longest.items()):
        print(f"  {f.lines:4d}  {module}::{f.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
