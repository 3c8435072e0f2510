"""Shapes met in real projects (issue: real projects, round three): the oldest nox the template
accepts, which a project may pin in its noxfile's script block (slow)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import TEMPLATE, render, run, session_env

pytestmark = pytest.mark.slow

OVER = """\
import pytest


@pytest.mark.limit_memory("1 MB")
def test_over_its_budget():
    kept = bytearray(8 * 1024 * 1024)
    assert kept
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("real") / "svc")


def oldest_nox() -> str:
    """The oldest nox the template's noxfile accepts (its PEP 723 block)."""
    noxfile = (TEMPLATE / "template" / "noxfile.py.jinja").read_text()
    found = re.search(r'"nox>=([\d.]+)"', noxfile)
    assert found is not None
    return found[1]


def test_a_failing_memtest_under_the_oldest_accepted_nox_is_a_message(
    project: Path, tmp_path: Path
) -> None:
    version = oldest_nox()
    venv = tmp_path / "old-nox"
    uv = [sys.executable, "-m", "uv"]
    subprocess.run([*uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    subprocess.run([*uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
                    f"nox=={version}", "uv"], check=True)  # fmt: skip
    (project / "tests" / "test_over.py").write_text(OVER)
    try:
        result = run([str(venv / "bin" / "nox"), "-s", "memtest"], project, check=False,
                     env={**session_env(), "CI": "true"})  # fmt: skip
    finally:
        (project / "tests" / "test_over.py").unlink()
    assert f"nox {version}" in result.stderr or result.returncode != 0
    assert result.returncode != 0
    assert "AttributeError" not in result.stderr
    assert "Traceback" not in result.stderr
    assert "test_over_its_budget" in result.stderr
    assert "went over their memory budget" in result.stderr


# The ruffs a project may run over its whole tree: one older than the template accepts (a
# project's own lock held 0.14.9), the oldest it accepts, and the newest (the lock's).
PROJECT_RUFFS = ["0.14.9", "0.15.0", None]


@pytest.mark.parametrize("version", PROJECT_RUFFS, ids=lambda v: v or "newest")
def test_a_projects_ruff_fix_over_the_whole_tree_leaves_memwise_untouched(
    project: Path, version: str | None
) -> None:
    pyproject = project / "pyproject.toml"
    kept = pyproject.read_text()
    # A project that selects every rule, RUF100 (unused noqa) included.
    assert "\n[tool.ruff.lint]\nextend-select = [" in kept
    pyproject.write_text(
        kept.replace(
            "[tool.ruff.lint]\nextend-select = [", '[tool.ruff.lint]\nextend-select = ["ALL", '
        )
    )
    ruff = [sys.executable, "-m", "uv", "tool", "run", f"ruff@{version}" if version else "ruff"]
    if version is None:
        ruff = [str(Path(sys.executable).parent / "ruff")]
    before = memwise_files(project)
    try:
        run([*ruff, "check", "--fix", "--no-cache", "--exit-zero", "."], project)
    finally:
        pyproject.write_text(kept)
    after = memwise_files(project)
    assert [name for name in after if after[name] != before.get(name)] == []


def memwise_files(project: Path) -> dict[str, bytes]:
    return {
        str(path): path.read_bytes()
        for path in sorted((project / ".memwise").rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_memwise_markdown_passes_blacken_docs_and_codespell(project: Path) -> None:
    """A project's blacken-docs and codespell hooks over the whole tree: memwise's Markdown
    and code pass both, and every Python block in its Markdown parses."""
    uv_tool = [sys.executable, "-m", "uv", "tool", "run"]
    markdown = sorted(str(path) for path in (project / ".memwise").rglob("*.md"))
    run([*uv_tool, "blacken-docs", "--check", *markdown], project)
    run([*uv_tool, "codespell", ".memwise"], project)
    for path in markdown:
        text = Path(path).read_text()
        for block in re.findall(r"^```python\n(.*?)^```", text, re.DOTALL | re.MULTILINE):
            compile(block, path, "exec")
