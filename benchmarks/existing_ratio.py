"""memtest against the project's own plain pytest, on the suite's existing-project fixtures.

Run it with `nox -s benchmark -- existing` (or `python benchmarks/existing_ratio.py --runs 5`).
For each fixture of tests/existing_projects.py it adds memwise the documented way, runs
`nox -s memtest` once (building its environment), then times, paired and `--runs` times, the
pytest command memtest runs and the project's own plain pytest in the same environment (without
memray's plugins), and prints the medians and the median ratio. Both run in one process (memtest's
default for an existing project). docs/benchmarks.md quotes the figures.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "template" / ".memwise" / "src"))
from gate_noise import make_project  # adds memwise to a fixture, the documented way
from memwise.settings import load
from speed import BIN, ENV, paired  # the speed benchmark's timing

from tests.existing_projects import PROJECTS
from tests.helpers import memory_environment, session_env


def memtest_pytest_command(project: Path) -> list[str]:
    """The pytest command memtest runs, as its log shows it."""
    log = subprocess.run([str(BIN / "nox"), "-s", "memtest"], cwd=project,
                         env=session_env(), capture_output=True, text=True, check=True).stderr  # fmt: skip
    line = next(line for line in log.splitlines() if line.startswith("nox > pytest "))
    return [str(memory_environment(project) / "bin" / "pytest"), *shlex.split(line)[3:]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="paired runs per fixture")
    parser.add_argument("--projects", default=",".join(p.name for p in PROJECTS))
    args = parser.parse_args()
    ENV.update(session_env())  # every installed Python on PATH, bytecode written
    work = Path(tempfile.mkdtemp(prefix="memwise-existing-"))
    rows = []
    try:
        for name in args.projects.split(","):
            project = make_project(name, work)
            memtest = memtest_pytest_command(project)
            settings = load(project)
            ENV.update(settings.env)  # what its tests need ([tool.memwise.env]), as memtest sets it
            own = list(settings.pytest_args)  # what the project deselects, as memtest does
            plain = [memtest[0], "-q", "-p", "no:memray", "-p", "no:memwise", *own]
            pairs = paired(memtest, plain, project, args.runs)
            rows.append((
                name,
                statistics.median(m for m, _ in pairs),
                statistics.median(p for _, p in pairs),
                statistics.median(m / p for m, p in pairs),
            ))  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nmemtest against the project's own plain pytest (medians of {args.runs} pairs):")
    print("| fixture | memtest's pytest | plain pytest | ratio |")
    print("| --- | --- | --- | --- |")
    for name, memtest_s, plain_s, ratio in rows:
        print(f"| {name} | {memtest_s:.2f} s | {plain_s:.2f} s | {ratio:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
