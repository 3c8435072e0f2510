"""Noise and sensitivity of the memory gate, measured on a default render.

Run it with `nox -s benchmark -- gate` (or `python benchmarks/gate_noise.py --runs 50`). It
records a baseline (`nox -s baseline`: each figure measured three times), runs
`nox -s memgate` repeatedly on unchanged code and prints, per figure, the largest deviation
from the baseline; then it adds 1% to the workload's total allocated, in a function of its
own, and counts how often the gate fails and how often its message names that function. The
figures and the method are in docs/ci.md.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "template" / ".memwise" / "src"))
from tests.helpers import nox, render  # the tests' way to render and run nox
from tests.test_gate import grow_workload_by_one_percent  # the same 1% the suite injects


def figures_of(path: Path) -> dict[str, int]:
    """The figures of the one environment in a baseline file."""
    (table,) = tomllib.loads(path.read_text())["environments"].values()
    return table["figures"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="gate runs on unchanged code")
    parser.add_argument("--regressed-runs", type=int, default=10, help="gate runs after growth")
    parser.add_argument(
        "--baseline-runs", type=int, default=3,
        help="measuring runs of the baseline (`nox -s baseline -- --runs N`; the default's is 3)",
    )  # fmt: skip
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="memwise-gate-"))
    durations = []
    try:
        project = render(work / "my-service")
        nox(project, "-s", "baseline", "--", "--runs", str(args.baseline_runs))
        baseline = figures_of(project / "memory-baseline.toml")
        deviation = dict.fromkeys(baseline, 0.0)
        failures = 0
        for _ in range(args.runs):
            started = time.perf_counter()
            result = nox(project, "-R", "-s", "memgate", check=False)
            durations.append(time.perf_counter() - started)
            failures += result.returncode != 0
            measured = figures_of(project / "reports" / "memgate" / "memory-baseline.toml")
            for name, size in measured.items():
                change = abs(size - baseline[name]) / baseline[name]
                deviation[name] = max(deviation[name], change)
        grow_workload_by_one_percent(project)
        caught = named = 0
        for _ in range(args.regressed_runs):
            result = nox(project, "-R", "-s", "memgate", check=False)
            caught += result.returncode != 0
            named += "distinctive_growth_of_one_percent" in result.stderr
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nunchanged code: {failures} of {args.runs} gate runs failed")
    print(f"gate run (nox -R -s memgate), median: {statistics.median(durations):.1f} s")
    print("largest deviation from the baseline, per figure:")
    for name, change in sorted(deviation.items()):
        print(f"  {change:8.3%}  {name}")
    print(f"1% more allocated: {caught} of {args.regressed_runs} gate runs failed, "
          f"{named} named the function")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
