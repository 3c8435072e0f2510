"""Noise and sensitivity of the memory gate, measured on a default render.

Run it with `nox -s benchmark -- gate` (or `python benchmarks/gate_noise.py --runs 20`). It records
a baseline, runs `nox -s memgate` repeatedly on unchanged code and prints, per figure, the
largest deviation from the baseline next to the tolerance; then it makes the workload's reports
25% larger (a realistic regression) and counts how often the gate fails. The figures and the
method are in docs/ci.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))
from tests.helpers import nox, render  # the tests' way to render and run nox


def measured(project: Path) -> dict[str, int]:
    """The figures the last memgate run measured."""
    path = project / "reports" / "memgate" / "memory-baseline.toml"
    return tomllib.loads(path.read_text())["figures"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="gate runs on unchanged code")
    parser.add_argument("--regressed-runs", type=int, default=10, help="gate runs after growth")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="memwise-gate-"))
    try:
        project = render(work / "my-service")
        nox(project, "-s", "baseline")
        baseline = tomllib.loads((project / "memory-baseline.toml").read_text())["figures"]
        deviation = dict.fromkeys(baseline, 0.0)
        failures = 0
        for _ in range(args.runs):
            result = nox(project, "-R", "-s", "memgate", check=False)
            failures += result.returncode != 0
            for name, size in measured(project).items():
                change = abs(size - baseline[name]) / baseline[name]
                deviation[name] = max(deviation[name], change)
        workload = project / "src" / "my_service" / "workload.py"
        workload.write_text(workload.read_text().replace('default=100_000, help="events',
                                                         'default=125_000, help="events'))  # fmt: skip
        caught = sum(
            nox(project, "-R", "-s", "memgate", check=False).returncode != 0
            for _ in range(args.regressed_runs)
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nunchanged code: {failures} of {args.runs} gate runs failed")
    print("largest deviation from the baseline, per figure (tolerance: 5% + 0.25 MiB):")
    for name, change in sorted(deviation.items()):
        print(f"  {change:8.3%}  {name}")
    print(f"reports 25% larger: {caught} of {args.regressed_runs} gate runs failed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
