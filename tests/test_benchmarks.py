"""The benchmarks behind docs/benchmarks.md and docs/ci.md run and report every figure.

One smoke run of each (one run per figure, no warm-up, smaller inputs), so the commands the docs
give cannot rot unnoticed; the figures themselves are for people to read (a timed assertion
would fail on a busy machine, not on a slow template).
"""

from __future__ import annotations

import re
import sys

import pytest

from tests.helpers import TEMPLATE, memory_environment, nox, render, run

pytestmark = pytest.mark.slow

SPEED_FIGURES = (
    "render",
    "time to green",
    "resolving without the shipped lock",
    "nox -R -s memtest",
    "the same pytest command",
    "nox overhead on a reused memtest",
)


def run_benchmark(script: str, *args: str) -> str:
    return run([sys.executable, f"benchmarks/{script}", *args], TEMPLATE).stdout


# A stand-in peer template (the real ones live on GitHub, out of reach here): the option is
# what is checked, so its one session only has to run.
PEER_COPIER = "_answers_file: .copier-answers.yml\n"
PEER_NOXFILE = """\
import nox


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    session.run("python", "-c", "print('peer tests passed')")
"""


def test_speed_benchmark_reports_each_figure(tmp_path) -> None:
    peer = tmp_path / "peer-template"
    peer.mkdir()
    (peer / "copier.yml").write_text(PEER_COPIER)
    (peer / "noxfile.py").write_text(PEER_NOXFILE)
    output = run_benchmark("speed.py", "--smoke", "--runs", "1", "--peer", str(peer))
    seconds = {}
    for figure in SPEED_FIGURES:
        found = re.search(rf"^{re.escape(figure)}.*?\s(-?\d+\.\d+) s", output, re.MULTILINE)
        assert found, f"no {figure!r} figure in:\n{output}"
        seconds[figure] = float(found.group(1))
    # The first memtest comes after a render.
    assert seconds["time to green"] > seconds["render"]
    assert re.search(
        r"^memtest in 2 shards at once / one runner +\d+\.\d\d x", output, re.MULTILINE
    ), output
    for suite in ("its own suite", "40 small tests", "30 service-like tests"):
        for against in ("plain pytest", "pytest-memray alone"):
            assert re.search(
                rf"^memtest / {against}, {suite} +\d+\.\d\d x   \(both -n auto;",
                output,
                re.MULTILINE,
            )  # like for like: the other command with memtest's workers
            assert re.search(
                rf"^memtest / {against}, one process, {suite} +\d+\.\d\d x   \(-n 0;",
                output,
                re.MULTILINE,
            )  # and both in one process
        assert re.search(
            rf"^plain pytest, -n auto / one process, {suite} +\d+\.\d\d x", output, re.MULTILINE
        )  # and what the workers gain, apart
    # The gate's first session after memtest reuses memtest's environment.
    assert re.search(
        r"^first baseline after memtest \(1 run\) +\d+\.\d\d s   \(installed nothing",
        output,
        re.MULTILINE,
    ), output
    for session in ("flamegraph", "profile"):
        assert re.search(
            rf"^nox -R -s {session} / the workload alone +\d+\.\d\d x", output, re.MULTILINE
        ), output
    assert re.search(r"^peer time to green \(peer-template\) .* s", output, re.MULTILINE), output
    assert re.search(r"^time to green, memwise / peer +\d+\.\d\d x", output, re.MULTILINE)


def test_gate_noise_benchmark_counts_failures_on_both_sides() -> None:
    # One kind of growth: each kind's 2% is caught in tests/test_verdicts.py and
    # tests/test_gate.py; this checks that the benchmark's command runs and reports.
    output = run_benchmark(
        "gate_noise.py", "--runs", "1", "--regressed-runs", "1", "--baseline-runs", "1",
        "--growths", "2", "--kinds", "small test peak",
    )  # fmt: skip
    unchanged = re.search(r"^unchanged code: (\d+) of 1 gate runs failed", output, re.MULTILINE)
    assert unchanged, output
    assert re.search(r"^gate run \(nox -R -s memgate\), median: \d+\.\d s", output, re.MULTILINE)
    kinds = re.findall(
        r"^  (workload peak|workload total|small test peak|large test peak) +[\d.]+ MiB  \+2%: "
        r"failed (\d+) of 1 runs, named it (\d+) times",
        output, re.MULTILINE,
    )  # fmt: skip
    # The documented behaviour: quiet on unchanged code, 2% of the kind asked for caught and
    # named, and only that kind grown.
    assert unchanged.group(1) == "0", output
    assert kinds == [("small test peak", "1", "1")], output


def test_existing_projects_benchmark_reports_the_ratio() -> None:
    # bot names a workload: its flamegraph and profile are timed against it as well.
    output = run_benchmark("existing_ratio.py", "--runs", "1", "--projects", "bot")
    assert re.search(
        r"^\| bot \| \d+\.\d\d s \| \d+\.\d\d s \| \d+\.\d\dx \| \d+\.\d\dx \| \d+ tests, "
        r"largest \d+ bytes \|$",
        output,
        re.MULTILINE,
    ), output
    for session in ("flamegraph", "profile"):
        assert re.search(
            rf"^\| bot \| nox -R -s {session} \| [\d.]+ s \| [\d.]+ s \| \d+\.\d\dx \|$",
            output,
            re.MULTILINE,
        ), output


def test_runtime_benchmark_reports_the_watch_thread_and_each_mode() -> None:
    output = run_benchmark(
        "runtime_overhead.py", "--runs", "1", "--requests", "2000", "--idle", "2"
    )
    assert re.search(r"sampling thread at 1 Hz: [\d.]+ ms CPU in 2 s = [\d.]+% of one core",
                     output), output  # fmt: skip
    for mode in ("off", "on, no capture", "on, capturing"):
        assert re.search(rf"^  {re.escape(mode)} +[\d.]+ s \([\d.]+x off", output, re.MULTILINE)


def test_gate_cost_benchmark_reports_both_ratios() -> None:
    output = run_benchmark("gate_cost.py", "--runs", "1", "--baseline-runs", "1")
    for name in ("one run", "read back", "memgate", "baseline"):
        assert re.search(rf"^  {name} +\d+\.\d\d s  \(\d+\.\d\d\)$", output, re.MULTILINE), output
    assert re.search(r"memgate / one measuring run by hand: \d+\.\d\dx", output), output
    assert re.search(r"baseline / 1 measuring runs by hand: \d+\.\d\dx", output), output


def test_tracking_cost_reproduction_reports_each_way(tmp_path) -> None:
    # The reproduction needs memray: it runs in a render's memory environment, as documented.
    project = render(tmp_path / "my-service")
    nox(project, "-s", "memtest")
    python = memory_environment(project) / "bin" / "python"
    output = run([str(python), "benchmarks/tracking_cost.py", "--runs", "1", "--tests", "2"],
                 TEMPLATE).stdout  # fmt: skip
    ways = ("plain", "one Tracker, every allocation", "one Tracker, aggregated",
            "reading every record back")  # fmt: skip
    assert re.search(r"records in one run's capture: [1-9][\d,]*$", output, re.MULTILINE), output
    for way in ways:
        assert re.search(rf"^  {way} +\d+\.\d\d s   \d+\.\d\dx plain", output, re.MULTILINE), output
