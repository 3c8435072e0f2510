"""The example service on every supported Python present: memtest with its budgets, the
flamegraph, the gate, and profile where scalene has wheels (slow; one render per version)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import nox, render
from tests.test_sessions import installed, set_memwise

pytestmark = pytest.mark.slow

SCALENE_PYTHONS = {"3.11", "3.12", "3.13", "3.14"}


@pytest.mark.parametrize("version", ["3.11", "3.12", "3.13", "3.14", "3.15"])
def test_the_example_passes_its_memory_sessions_on_every_python(
    tmp_path: Path, version: str
) -> None:
    if not installed([version]):
        pytest.skip(f"Python {version} not installed (../shared/tools/install-python)")
    project = render(tmp_path / f"on{version}")
    set_memwise(project, f'memory-python = "{version}"')
    pyproject = project / "pyproject.toml"
    # One measuring run for the baseline: this checks the sessions, not the gate's noise.
    pyproject.write_text(pyproject.read_text().replace("runs = 3", "runs = 1"))
    memtest = nox(project, "-s", "memtest").stderr
    measured = re.search(
        rf"memtest passed on Python {version}: (\d+) of (\d+) tests measured", memtest
    )
    assert measured, memtest
    assert measured[1] == measured[2]  # every test, async ones included
    nox(project, "-R", "-s", "flamegraph")
    assert (project / "reports" / "flamegraph" / "flamegraph.html").is_file()
    nox(project, "-R", "-s", "baseline")
    assert f"memory gate passed on Python {version}" in nox(project, "-R", "-s", "memgate").stderr
    if version in SCALENE_PYTHONS:
        # profile runs on the newest supported Python with scalene: here, the project's only one.
        pyproject.write_text(
            re.sub(
                r"Programming Language :: Python :: 3\.1[1-5]",
                f"Programming Language :: Python :: {version}",
                pyproject.read_text(),
            )
        )
        assert "Top lines by time" in nox(project, "-s", "profile").stdout
