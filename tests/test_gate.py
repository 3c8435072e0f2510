"""The memory regression gate: its arithmetic (fast) and the real sessions on a render (slow)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from memwise import gate
from memwise.manifest import Manifest, TestRecord

from tests.helpers import nox, render

MIB = 1024 * 1024


def test_tolerance_is_relative_plus_absolute() -> None:
    tolerance = gate.Tolerance.from_settings(relative=0.1, absolute_mib=1)
    assert tolerance.limit(10 * MIB) == 12 * MIB
    assert str(tolerance) == "10% + 1.00 MiB"


def test_test_figures_are_named_by_node_id_from_the_manifest() -> None:
    long_id = "tests/test_x.py::test_y[" + "a" * 300 + "]"
    manifest = Manifest("3.13", "linux", 1, [
        TestRecord(long_id, "failed", "pytest-memray", 5 * MIB, "captures/x.bin"),
        TestRecord("tests/test_x.py::test_skipped", "skipped"),
        TestRecord("tests/test_x.py::test_unmeasured", "passed"),
    ])  # fmt: skip
    assert gate.figures_of_tests(manifest) == {f"{long_id} peak": 5 * MIB}


def test_compare_flags_only_figures_above_their_limit() -> None:
    tolerance = gate.Tolerance(relative=0.05, absolute_bytes=0)
    baseline = {"steady": 100 * MIB, "grown": 100 * MIB, "gone": MIB}
    now = {"steady": 105 * MIB, "grown": 106 * MIB, "new": MIB}
    status = {c.name: c.status for c in gate.compare(baseline, now, tolerance)}
    assert status == {"steady": "ok", "grown": "REGRESSION", "gone": "not measured", "new": "new"}


def test_baseline_file_reads_back_and_shows_sizes(tmp_path: Path) -> None:
    figures = {'peak of "odd" name \\ 😀 [x]': 3 * MIB, "workload peak": 12345}
    text = gate.baseline_text(figures, "3.13", "linux")
    data = tomllib.loads(text)
    assert data == {"python": "3.13", "platform": "linux", "figures": figures}
    assert "# 3.00 MiB" in text


GROWTH = 1.25  # a realistic regression: 25% more work for the same traffic


def grow_workload(project: Path) -> None:
    workload = project / "src" / "my_service" / "workload.py"
    text = workload.read_text()
    grown = text.replace(
        'default=100_000, help="events', f'default={int(100_000 * GROWTH)}, help="events'
    )
    assert grown != text
    workload.write_text(grown)


@pytest.mark.slow
def test_gate_passes_unchanged_code_fails_growth_and_accepts_a_new_baseline(tmp_path) -> None:
    project = render(tmp_path / "gated")
    first = nox(project, "-s", "memgate")
    assert "No memory-baseline.toml yet" in first.stderr
    nox(project, "-R", "-s", "baseline")
    recorded = tomllib.loads((project / "memory-baseline.toml").read_text())
    assert {"workload peak", "workload total allocated"} <= set(recorded["figures"])
    assert any(name.startswith("tests/test_memory.py::") for name in recorded["figures"])

    for _ in range(5):  # unchanged code never fails
        result = nox(project, "-R", "-s", "memgate")
        assert "memory gate passed" in result.stderr
    summary = (project / "reports" / "memgate" / "summary.md").read_text()
    assert "## Memory gate passed" in summary
    assert "Top allocating locations" in summary

    grow_workload(project)
    for _ in range(3):  # a real regression always fails
        result = nox(project, "-R", "-s", "memgate", check=False)
        assert result.returncode != 0
        message = result.stderr
        assert re.search(r"workload total allocated: [\d.]+ MiB -> [\d.]+ MiB \(\+", message)
        assert "allowed up to" in message
        assert "tolerance (5% + 1.00 MiB" in message
        assert str(project / "reports" / "memgate" / "workload.html") in message
    assert (project / "reports" / "memgate" / "workload.html").is_file()
    assert "REGRESSION" in (project / "reports" / "memgate" / "summary.md").read_text()

    nox(project, "-R", "-s", "baseline")
    assert "memory gate passed" in nox(project, "-R", "-s", "memgate").stderr


OVER_ITS_LIMIT = """\
import pytest


@pytest.mark.limit_memory("1 MB")
def test_grew_past_its_budget() -> None:
    data = [bytearray(1024 * 1024) for _ in range(3)]
    assert data
"""


@pytest.mark.slow
def test_a_test_over_its_limit_fails_the_gate_with_summary_and_flamegraphs(tmp_path) -> None:
    project = render(tmp_path / "over")
    nox(project, "-s", "baseline")
    (project / "tests" / "test_grown.py").write_text(OVER_ITS_LIMIT)
    result = nox(project, "-R", "-s", "memgate", check=False)
    assert result.returncode != 0
    assert "1 test(s) failed their memory limit" in result.stderr
    assert "tests/test_grown.py::test_grew_past_its_budget" in result.stderr
    reports = project / "reports" / "memgate"
    assert (reports / "summary.md").is_file()  # the gate still compared the other figures
    assert "## Memory gate" in (reports / "summary.md").read_text()
    flamegraph = reports / "gate-tests-test_grown.py-test_grew_past_its_budget.html"
    assert flamegraph.is_file()
    assert str(flamegraph) in result.stderr
