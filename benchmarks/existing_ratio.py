"""memtest against the project's own plain pytest, on the suite's existing-project fixtures.

Run it with `nox -s benchmark -- existing` (or `python benchmarks/existing_ratio.py --runs 5`).
For each fixture of tests/existing_projects.py it adds memwise the documented way, runs
`nox -s memtest` once (building its environment), then times, paired and `--runs` times, the
pytest command memtest runs and the project's own plain pytest in the same environment (without
memray's plugins), and prints the medians and the median ratio. Both run in one process (memtest's
default for an existing project). For a fixture that names a workload it also times `nox -R -s
flamegraph` and `nox -R -s profile` against the workload run plainly, each in its session's
environment. docs/benchmarks.md quotes the figures.
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
from memwise.project.settings import load
from memwise.running.environment import program_env
from one_tracker import peaks  # the run's Tracker against pytest-memray's, figure by figure
from speed import BIN, ENV, rounds, workload_ratio  # the speed benchmark's timing

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
    outer = dict(ENV)
    work = Path(tempfile.mkdtemp(prefix="memwise-existing-"))
    rows = []
    sessions: list[tuple[str, str, float, float, float]] = []
    try:
        for name in args.projects.split(","):
            project = make_project(name, work)
            memtest = memtest_pytest_command(project)
            settings = load(project)
            # What its tests and workload need, as memtest sets it: [tool.memwise.env], and its
            # folders on PYTHONPATH when it is not installable. This fixture's only.
            ENV.clear()
            ENV.update(outer)
            ENV.update({k: v for k, v in program_env(settings).items() if v is not None})
            own = list(settings.pytest_args)  # what the project deselects, as memtest does
            plain = [memtest[0], "-q", "-p", "no:memray", "-p", "no:memwise", *own]
            memray_alone = [memtest[0], "-q", "-p", "no:memwise", "--memray", *own]
            commands = {"memtest": memtest, "plain": plain, "memray": memray_alone}
            times = rounds(commands, [], project, args.runs)
            per_test = peaks(project, "--memray", work / f"{name}-peaks", own)
            one = peaks(project, "--memwise-one-tracker", work / f"{name}-peaks", own)
            largest = max((abs(one[n] - per_test[n]) for n in set(one) & set(per_test)), default=0)
            rows.append((
                name,
                statistics.median(t["memtest"] for t in times),
                statistics.median(t["plain"] for t in times),
                statistics.median(t["memtest"] / t["plain"] for t in times),
                statistics.median(t["memtest"] / t["memray"] for t in times),
                f"{len(set(one) & set(per_test))} tests, largest {largest} bytes",
            ))  # fmt: skip
            if settings.workload:
                sessions += session_ratios(name, project, settings.workload, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nmemtest against the project's own plain pytest (medians of {args.runs} pairs):")
    print("| fixture | memtest's pytest | plain pytest | ratio | memtest / pytest-memray alone "
          "| peaks against pytest-memray's |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- |")
    for name, memtest_s, plain_s, ratio, to_memray, same in rows:
        print(f"| {name} | {memtest_s:.2f} s | {plain_s:.2f} s | {ratio:.2f}x | {to_memray:.2f}x "
              f"| {same} |")  # fmt: skip
    if sessions:
        print(f"\nreused sessions against the workload run plainly (medians of {args.runs} pairs):")
        print("| fixture | session | session | workload alone | ratio |")
        print("| --- | --- | --- | --- | --- |")
        for name, session, seconds, alone, ratio in sessions:
            print(
                f"| {name} | nox -R -s {session} | {seconds:.2f} s | {alone:.2f} s | {ratio:.2f}x |"
            )
    return 0


def session_ratios(
    name: str, project: Path, workload: str, runs: int
) -> list[tuple[str, str, float, float, float]]:
    """flamegraph and profile, reused, each against the workload in its own environment."""
    subprocess.run([str(BIN / "nox"), "-s", "profile"], cwd=project, env=ENV,
                   capture_output=True, check=True)  # fmt: skip
    (profile_environment,) = project.glob(".nox/memwise-profile-*")
    ratios = []
    for session, environment in [
        ("flamegraph", memory_environment(project)),
        ("profile", profile_environment),
    ]:
        pairs = workload_ratio(session, project, environment / "bin" / "python", workload, runs)
        ratios.append((
            name, session,
            statistics.median(with_session for with_session, _ in pairs),
            statistics.median(alone for _, alone in pairs),
            statistics.median(with_session / alone for with_session, alone in pairs),
        ))  # fmt: skip
    return ratios


if __name__ == "__main__":
    raise SystemExit(main())
