"""Noise and sensitivity of the memory gate, per kind of figure.

Run it with `nox -s benchmark -- gate` (or `python benchmarks/gate_noise.py --runs 50`). On a
default render (or, with `--project cachelib`, on an existing-project fixture of the suite) it
records a baseline (`nox -s baseline`, five measuring runs by default), runs `nox -s memgate`
repeatedly on unchanged code and counts the runs that failed, with each figure's largest
deviation from the baseline. Then, on the example, for each kind of figure (the workload's
peak and total allocated, a small and a large test's peak) and each growth asked for (2% by
default), it grows that figure alone (tests/growth.py) and counts how often the gate fails
and names the figure. docs/ci.md quotes the results.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import copier

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))
from tests import growth  # the suite's injections
from tests.existing_projects import PROJECTS  # the suite's existing-project fixtures
from tests.helpers import memory_environment, nox, render, session_env, template_source

KINDS: dict[str, tuple[str, Callable[[Path, int], None]]] = {
    "workload peak": ("workload peak", growth.grow_workload_peak),
    "workload total": ("workload total allocated", growth.grow_workload_total),
    "small test peak": (
        growth.SMALL_TEST_FIGURE,
        lambda project, size: growth.grow_test_peak(project, growth.SMALL_TEST, size),
    ),
    "large test peak": (
        growth.LARGE_TEST_FIGURE,
        lambda project, size: growth.grow_test_peak(project, growth.LARGE_TEST, size),
    ),
}
NOXFILE_LINES = (
    '\nimport importlib\nimport sys\n\nsys.path.insert(0, ".memwise/src")\n'
    'importlib.import_module("memwise.nox_sessions")\n'
)


def git(project: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    return subprocess.run(command, cwd=project, check=True, capture_output=True, text=True).stdout


def figures_of(path: Path) -> dict[str, int]:
    """The figures of the one environment in a baseline file."""
    (table,) = tomllib.loads(path.read_text())["environments"].values()
    return dict(table["figures"])


def make_project(name: str, work: Path) -> Path:
    """The example render, or an existing-project fixture with memwise added to it."""
    if name == "example":
        project = render(work / "my-service")
    else:
        fixture = next(p for p in PROJECTS if p.name == name)
        project = fixture.write(work / name)
        copier.run_copy(str(template_source()), project, data={"project_type": "existing"},
                        defaults=True, quiet=True, unsafe=False)  # fmt: skip
        if fixture.has_noxfile:
            with (project / "noxfile.py").open("a", encoding="utf-8") as noxfile:
                noxfile.write(NOXFILE_LINES)
        if fixture.memwise_settings:
            with (project / "pyproject.toml").open("a", encoding="utf-8") as pyproject:
                pyproject.write(f"\n[tool.memwise]\n{fixture.memwise_settings}")
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "start")
    return project


def allocator_cost(project: Path, runs: int) -> tuple[float, float]:
    """Median seconds of `memray run` of the workload, pymalloc then the C allocator, paired."""
    memray_executable = memory_environment(project) / "bin" / "memray"
    workload = str(project / "src" / "my_service" / "workload.py")
    samples: dict[str, list[float]] = {"pymalloc": [], "malloc": []}
    for _ in range(runs):
        for allocator, seconds in samples.items():
            env = {**session_env(), "PYTHONMALLOC": allocator, "PYTHONHASHSEED": "0"}
            started = time.perf_counter()
            capture = str(project / "cost.bin")
            command = [str(memray_executable), "run", "-q", "-f", "-o", capture, workload]
            subprocess.run(command, cwd=project, env=env, check=True, capture_output=True)
            seconds.append(time.perf_counter() - started)
    (project / "cost.bin").unlink(missing_ok=True)
    return statistics.median(samples["pymalloc"]), statistics.median(samples["malloc"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="gate runs on unchanged code")
    parser.add_argument("--regressed-runs", type=int, default=10, help="gate runs per growth")
    parser.add_argument("--growths", default="2", help="growths in percent, e.g. 1,2")
    parser.add_argument(
        "--kinds", default=",".join(KINDS),
        help=f"the figures grown, one at a time (default: all: {', '.join(KINDS)})",
    )  # fmt: skip
    parser.add_argument(
        "--baseline-runs", type=int, default=5, help="measuring runs of the baseline"
    )
    parser.add_argument(
        "--cost", type=int, default=0, metavar="N",
        help="also time N runs of the workload under memray with pymalloc and with malloc",
    )  # fmt: skip
    parser.add_argument(
        "--project", default="example", choices=["example", *(p.name for p in PROJECTS)],
        help="the default render, or an existing-project fixture (unchanged runs only)",
    )  # fmt: skip
    args = parser.parse_args()
    growths = [float(g) for g in args.growths.split(",") if g]
    kinds = [kind.strip() for kind in args.kinds.split(",") if kind.strip()]
    if unknown := sorted(set(kinds) - set(KINDS)):
        parser.error(f"unknown kind(s) {unknown}: choose from {', '.join(KINDS)}")
    work = Path(tempfile.mkdtemp(prefix="memwise-gate-"))
    durations: list[float] = []
    results: list[str] = []
    try:
        project = make_project(args.project, work)
        nox(project, "-s", "baseline", "--", "--runs", str(args.baseline_runs))
        git(project, "add", "-A")
        git(project, "commit", "-q", "-m", "baseline")
        baseline = figures_of(project / "memory-baseline.toml")
        cost = allocator_cost(project, args.cost) if args.cost else None
        deviation = dict.fromkeys(baseline, 0.0)
        failures = 0
        for number in range(args.runs):
            started = time.perf_counter()
            result = nox(project, "-R", "-s", "memgate", check=False)
            durations.append(time.perf_counter() - started)
            failures += result.returncode != 0
            if result.returncode != 0:
                print(f"unchanged run {number + 1} failed:\n{result.stderr[-3000:]}", flush=True)
            measured = figures_of(project / "reports" / "memgate" / "memory-baseline.toml")
            for name, size in measured.items():
                if baseline.get(name):
                    change = abs(size - baseline[name]) / baseline[name]
                    deviation[name] = max(deviation[name], change)
        if args.project == "example":
            for kind in kinds:
                figure, grow = KINDS[kind]
                for percent in growths:
                    git(project, "checkout", "-q", "--", ".")
                    grow(project, int(baseline[figure] * percent / 100))
                    caught = named = 0
                    for _ in range(args.regressed_runs):
                        result = nox(project, "-R", "-s", "memgate", check=False)
                        caught += result.returncode != 0
                        # The verdict names each failing figure: "  <figure>: a -> b, ..."
                        verdict = result.stderr.split("Memory gate failed", 1)[-1]
                        named += f"  {figure}: " in verdict
                    results.append(
                        f"  {kind:16} {baseline[figure] / 2**20:8.2f} MiB  +{percent:g}%: failed "
                        f"{caught} of {args.regressed_runs} runs, named it {named} times"
                    )
            git(project, "checkout", "-q", "--", ".")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nproject: {args.project}; baseline of {args.baseline_runs} runs")
    print(f"unchanged code: {failures} of {args.runs} gate runs failed")
    if durations:
        print(f"gate run (nox -R -s memgate), median: {statistics.median(durations):.1f} s")
    if cost:
        pymalloc, malloc = cost
        print(f"the workload under memray run, median of {args.cost}: {pymalloc:.2f} s with "
              f"pymalloc, {malloc:.2f} s with PYTHONMALLOC=malloc ({malloc / pymalloc:.2f}x)")  # fmt: skip
    print("largest deviation from the baseline, per figure (figures of 1 MiB or more marked *):")
    for name, change in sorted(deviation.items()):
        star = "*" if baseline[name] >= 2**20 else " "
        print(f"  {change:8.3%} {star} {baseline[name] / 2**20:9.2f} MiB  {name}")
    if results:
        print("growth of one figure at a time:")
        print("\n".join(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
