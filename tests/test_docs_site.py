"""The documentation site: built strict by `nox -s docs`, and read in a real browser."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ARTIFACTS, TEMPLATE, browse, session_env

# A strict Sphinx build and a headless browser (35 s): the slow set.
pytestmark = pytest.mark.slow

SITE = TEMPLATE / "docs" / "_build" / "html"
# What a copy of the repository needs to build its site with `nox -s docs`.
SITE_SOURCES = ["noxfile.py", "pyproject.toml", "uv.lock", "README.md", "CHANGELOG.md", "docs"]


def nox_docs(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nox", "-f", str(root / "noxfile.py"), "-s", "docs", *args],
        cwd=root, capture_output=True, text=True, check=False, env=session_env(),
    )  # fmt: skip


def page_text(page: Path) -> str:
    """What a reader of the page sees, as one line of text."""
    text = re.sub(
        r"<(script|style)\b.*?</\1>|<[^>]+>", " ", page.read_text(encoding="utf-8"), flags=re.DOTALL
    )
    return " ".join(html.unescape(text).split())


@pytest.fixture(scope="module")
def site() -> Path:
    """The repository's own site, built as a developer builds it."""
    result = nox_docs(TEMPLATE)
    assert result.returncode == 0, result.stderr[-3000:]
    return SITE


@pytest.fixture
def repository_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "memwise"
    copy.mkdir()
    for name in SITE_SOURCES:
        source = TEMPLATE / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("_build"))
        else:
            shutil.copy2(source, copy / name)
    return copy


def test_the_site_has_a_page_for_every_doc_and_the_facts_kept_elsewhere(site: Path) -> None:
    for page in sorted((TEMPLATE / "docs").rglob("*.md")):
        built = site / page.relative_to(TEMPLATE).with_suffix(".html")
        assert built.is_file(), f"{page.name} has no page on the site"
    entry = page_text(site / "docs" / "index.html")
    # The README's quick start, included (not copied) on the entry page.
    assert "make demo" in entry
    assert "make test" in entry
    # The session and settings tables, included from the toolkit's README every project has.
    reference = page_text(site / "docs" / "reference.html")
    toolkit = (TEMPLATE / "template" / ".memwise" / "README.md").read_text(encoding="utf-8")
    for session in ("memtest", "memgate", "drift", "check_update"):
        assert f"nox -s {session}" in toolkit
        assert f"nox -s {session}" in reference
    assert "gate.allow-missing" in reference
    # The root opens the entry page.
    assert "docs/index.html" in (site / "index.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("breakage", "named"),
    [
        ("a link to a page that does not exist", "ci.md"),
        ("a page that no table of contents lists", "orphan.md"),
    ],
)
def test_a_broken_link_or_a_missing_page_fails_the_build(
    repository_copy: Path, breakage: str, named: str
) -> None:
    if breakage.startswith("a link"):
        ci = repository_copy / "docs" / "ci.md"
        ci.write_text(ci.read_text() + "\nSee [the gate's page](gate-that-moved.md).\n")
    else:
        (repository_copy / "docs" / "orphan.md").write_text("# A page nobody links\n")
    result = nox_docs(repository_copy)
    assert result.returncode != 0, f"{breakage} did not fail the build"
    assert named in result.stdout + result.stderr


def test_docs_takes_only_serve(repository_copy: Path) -> None:
    result = nox_docs(repository_copy, "--", "--strict")
    assert result.returncode != 0
    assert "`nox -s docs` takes only --serve" in result.stderr


def test_the_pages_open_in_a_browser_without_errors_or_network(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    # The root's index.html only redirects to the entry page (checked above): it navigates away.
    pages = [page for page in pages if "_static" not in page.parts and page != site / "index.html"]
    shots = ARTIFACTS / "docs-site"
    shots.mkdir(parents=True, exist_ok=True)
    results = browse(
        [
            {
                "url": page.as_uri(),
                "texts": ["h1"],
                "screenshot": str(shots / f"{page.stem}.png")
                if page.parent.name == "docs"
                else None,
            }
            for page in pages
        ]
    )
    assert len(results) == len(pages)
    for result in results:
        assert result["errors"] == [], result["url"]
        leaving = [url for url in result["requests"] if not url.startswith("file://")]
        assert leaving == [], f"{result['url']} asked the network for {leaving}"
    titles = {Path(result["url"]).name: result["texts"]["h1"] for result in results}
    assert titles["reference.html"] == ["Sessions and settings"]


def test_search_finds_a_page_offline(site: Path) -> None:
    search = (site / "search.html").as_uri()
    [result] = browse(
        [
            {
                "url": f"{search}?q=drift",
                "waitFor": "#search-results ul.search li a",
                "texts": ["#search-results ul.search li a"],
                "screenshot": str(ARTIFACTS / "docs-site" / "search.png"),
            }
        ]
    )
    assert result["errors"] == []
    assert [url for url in result["requests"] if not url.startswith("file://")] == []
    found = " ".join(result["texts"]["#search-results ul.search li a"])
    assert "Updating" in found or "updating" in found.lower(), found
