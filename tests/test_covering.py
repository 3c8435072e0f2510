"""A covering subset of the answers, one render per Python, runs its lint and memory sessions
green: together they run the example service's memtest and profile on every supported Python,
and its gate (baseline, memgate) on two (slow)."""

from __future__ import annotations

import re

import pytest

from tests.answer_matrix import COMBINATIONS, QUESTIONS, empty_range, label
from tests.helpers import installed, nox, render

pytestmark = pytest.mark.slow


def covering_subset() -> list[dict[str, str]]:
    """Few valid new projects that together use every value of every question.

    (An existing project has no pyproject.toml of memwise's; tests/test_existing.py builds them.)
    """
    valid = [a for a in COMBINATIONS if not empty_range(a) and a["project_type"] == "new"]
    missing = {
        (name, value)
        for name, values in QUESTIONS.items()
        if name != "project_type"
        for value in values
    }
    chosen = []
    while missing:
        best = max(valid, key=lambda answers: len(missing & set(answers.items())))
        chosen.append(best)
        missing -= set(best.items())
    return chosen


# Each render of the covering subset has one Python (python_min = python_max), so together
# they run the example service's sessions on every supported Python.
SCALENE_PYTHONS = {"3.11", "3.12", "3.13", "3.14"}
OLDEST, NEWEST = QUESTIONS["python_min"][0], QUESTIONS["python_max"][-1]
COVERING = covering_subset()


@pytest.mark.parametrize("answers", COVERING, ids=label)
def test_covering_subset_runs_lint_and_memory_sessions_green(tmp_path, answers) -> None:
    version = answers["python_min"]
    if not installed([version]):
        pytest.skip(f"Python {version} not installed (../shared/tools/install-python)")
    project = render(tmp_path / "project", **answers)
    # Once: the project's plain `tests` session (memtest runs the same tests on each Python) and
    # the flamegraph reports (the gate runs the workload under memray on each). Lint on the
    # oldest and the newest Python, the ends of the range over which ruff's and mypy's
    # version-dependent checks change.
    once = ["tests", "flamegraph"] if answers == COVERING[0] else []
    lint = ["lint"] if version in (OLDEST, NEWEST) else []
    result = nox(project, "-s", *lint, "memtest", *once)
    measured = re.search(
        rf"memtest passed on Python {version}: (\d+) of (\d+) tests measured", result.stderr
    )
    assert measured, result.stderr
    assert measured[1] == measured[2]  # every test, async ones included
    if once:
        assert (project / "reports" / "flamegraph" / "flamegraph.html").is_file()
    # The gate on the first render and on the newest Python (the likeliest to break a tool):
    # its arithmetic does not depend on the Python, and memtest already ran memray on each.
    # One measuring run for the baseline: this checks the sessions, not the gate's noise.
    if once or version == NEWEST:
        nox(project, "-s", "baseline", "--", "--runs", "1")
        assert f"memory gate passed on Python {version}" in nox(project, "-s", "memgate").stderr
    profile = nox(project, "-s", "profile", check=False)
    if version in SCALENE_PYTHONS:
        assert profile.returncode == 0, profile.stderr
        assert "Top lines by time" in profile.stdout
    else:  # scalene has no 3.15 wheels: profile says so
        assert profile.returncode != 0
        assert "scalene 2.4 has wheels only for CPython 3.9-3.14" in profile.stderr
