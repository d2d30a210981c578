"""Every relative link in README.md and docs/ resolves inside the repository, and every #anchor to a heading.

A link (or image) to a file must name a file in this repository: not one outside its root, such as a sibling
checkout's `../shared/...`, which is broken in every clone. An anchor on a link to a Markdown file, or an in-page
`#anchor`, must match a heading of the target as GitHub slugs it. External links (http, https, mailto) are not
fetched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]

FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
ATX_HEADING = re.compile(r"^\s{0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
SETEXT_UNDERLINE = re.compile(r"^\s{0,3}(=+|-+)\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
# [text](target "title") and ![alt](target); the text may hold one level of brackets (an image inside a link).
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^)\s]*)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
)
REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)", re.M)
HTML_ANCHOR = re.compile(r"<a\s[^>]*\b(?:name|id)\s*=\s*[\"']([^\"']+)[\"']", re.I)
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.I)  # http:, https:, mailto:, and any other scheme


@dataclass(frozen=True)
class Link:
    source: Path
    line: int
    target: str


def outside_code(text: str) -> list[tuple[int, str]]:
    """(line number, line) of the lines outside fenced code blocks, with code spans blanked out."""
    lines: list[tuple[int, str]] = []
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        opened = FENCE.match(line)
        if fence is None and opened:
            fence = opened.group(1)
            continue
        if fence is not None:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
            continue
        lines.append((number, CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)))
    return lines


def links_in(path: Path) -> Iterator[Link]:
    for number, line in outside_code(path.read_text(encoding="utf-8")):
        for match in INLINE_LINK.finditer(line):
            yield Link(path, number, match.group(1).strip("<>"))
        for match in REFERENCE_DEFINITION.finditer(line):
            yield Link(path, number, match.group(1).strip("<>"))


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text lower-cased, punctuation other than - and _ dropped, each space
    a hyphen."""
    text = CODE_SPAN.sub(lambda m: m.group(2), heading)  # `code` keeps its text
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text)  # HTML tags go
    text = text.replace("*", "")  # emphasis markers
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors_of(path: Path) -> set[str]:
    """Every anchor a Markdown file offers: its headings' slugs (a repeated one gets -1, -2, ...) and HTML
    anchors (<a name=...> or id=...)."""
    text = path.read_text(encoding="utf-8")
    headings: list[str] = []
    previous = ""
    for _, line in outside_code_keeping_spans(text):
        heading = ATX_HEADING.match(line)
        if heading:
            headings.append(heading.group(2) or "")
            previous = ""
            continue
        if (
            SETEXT_UNDERLINE.match(line)
            and previous.strip()
            and not previous.lstrip().startswith(("|", "-", "*", "+", ">"))
        ):
            headings.append(previous.strip())
            previous = ""
            continue
        previous = line
    seen: dict[str, int] = {}
    anchors: set[str] = set(HTML_ANCHOR.findall(text))
    for heading in headings:
        slug = github_slug(heading)
        if slug in seen:
            seen[slug] += 1
            anchors.add(f"{slug}-{seen[slug]}")
        else:
            seen[slug] = 0
            anchors.add(slug)
    return anchors


def outside_code_keeping_spans(text: str) -> list[tuple[int, str]]:
    """Like outside_code, but with code spans left in (a heading's `code` is part of its slug)."""
    kept = {number for number, _ in outside_code(text)}
    return [(number, line) for number, line in enumerate(text.splitlines(), start=1) if number in kept]


def problem_with(link: Link, root: Path) -> str | None:
    """Why `link` is broken, or None when it resolves."""
    target = link.target
    if not target or EXTERNAL.match(target):
        return None
    path_part, _, anchor = target.partition("#")
    path_part = unquote(path_part.split("?", 1)[0])
    if path_part.startswith("/"):
        return "an absolute path: link relative to the file, inside the repository"
    resolved = (link.source.parent / path_part).resolve() if path_part else link.source.resolve()
    if not resolved.is_relative_to(root.resolve()):
        return f"{path_part} is outside the repository"
    if not resolved.exists():
        return f"{path_part} does not exist"
    if anchor and resolved.suffix.lower() == ".md":
        if resolved.is_dir():
            return f"{path_part} is a folder: an anchor needs a file"
        if unquote(anchor).lower() not in anchors_of(resolved):
            return f"#{anchor} is not a heading of {resolved.relative_to(root.resolve())}"
    return None


def documents(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def broken_links(root: Path) -> list[str]:
    return [
        f"{link.source.relative_to(root)}:{link.line}: ({link.target}) {problem}"
        for document in documents(root)
        for link in links_in(document)
        if (problem := problem_with(link, root)) is not None
    ]


def test_the_documents_are_there() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in documents(ROOT)}
    assert {"README.md", "docs/metrics.md", "docs/warehouse.md", "docs/position_bias.md"} <= names


def test_every_relative_link_and_anchor_resolves_inside_the_repository() -> None:
    assert broken_links(ROOT) == []


def test_no_document_cites_a_path_outside_the_repository() -> None:
    """Not only links: a path in backticks such as `../shared/reference/metrics.md` is as broken in a clone."""
    cited = [
        f"{document.relative_to(ROOT)}:{number}"
        for document in documents(ROOT)
        for number, line in enumerate(document.read_text(encoding="utf-8").splitlines(), start=1)
        if "../shared/" in line or "/work/shared" in line
    ]
    assert cited == []


# -- the checker itself: it must catch what it is there to catch ------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "docs" / "images").mkdir(parents=True)
    (root / "docs" / "images" / "shot.png").write_bytes(b"png")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "metrics.md").write_text("# Outside\n")
    (root / "docs" / "metrics.md").write_text(
        "# Metrics\n\n## Search CTR\n\n## Search CTR\n\n## `marts.search_ctr`: rates (day x retriever)\n\n"
        "Setext heading\n--------------\n\n```md\n## Not a heading\n[in code](missing.md)\n```\n"
    )
    return root


def write_readme(root: Path, body: str) -> None:
    (root / "README.md").write_text(f"# Repo\n\n{body}\n")


@pytest.mark.parametrize(
    "body",
    [
        "[fine](docs/metrics.md)",
        "[fine](docs/metrics.md#search-ctr) and [the second](docs/metrics.md#search-ctr-1)",
        "[code heading](docs/metrics.md#martssearch_ctr-rates-day-x-retriever)",
        "[setext](docs/metrics.md#setext-heading)",
        '[in page](#repo) ![image](docs/images/shot.png "a title")',
        "[site](https://example.com/x.md#nothing) [mail](mailto:a@example.com)",
        "`[inside a code span](missing.md)`",
        "```\n[inside a fence](missing.md)\n```",
    ],
)
def test_the_checker_accepts_good_links(repo: Path, body: str) -> None:
    write_readme(repo, body)
    assert broken_links(repo) == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("[gone](docs/missing.md)", "does not exist"),
        ("[outside](../shared/metrics.md)", "outside the repository"),
        ("[outside](docs/../../shared/metrics.md)", "outside the repository"),
        ("![missing image](docs/images/nope.png)", "does not exist"),
        ("[bad anchor](docs/metrics.md#search-ctr-2)", "is not a heading"),
        ("[in code only](docs/metrics.md#not-a-heading)", "is not a heading"),
        ("[in page](#nowhere)", "is not a heading"),
        ("[ref]: ../shared/metrics.md", "outside the repository"),
    ],
)
def test_the_checker_catches_broken_links(repo: Path, body: str, problem: str) -> None:
    write_readme(repo, body)
    found = broken_links(repo)
    assert len(found) == 1 and problem in found[0], found


def test_github_slugs() -> None:
    assert github_slug("Skip and return signals") == "skip-and-return-signals"
    assert (
        github_slug("Extraction: why the ceiling target is missed")
        == "extraction-why-the-ceiling-target-is-missed"
    )
    assert github_slug("Servers that misbehave (issue 13)") == "servers-that-misbehave-issue-13"
    assert github_slug("CTR at position k (result CTR)") == "ctr-at-position-k-result-ctr"
    assert github_slug("`marts.search_ctr` **now**") == "martssearch_ctr-now"
