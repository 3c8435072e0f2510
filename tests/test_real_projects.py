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
