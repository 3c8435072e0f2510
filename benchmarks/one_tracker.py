"""memtest's one Tracker for the run against pytest-memray's Tracker per test: the same peaks?

Usage: python benchmarks/one_tracker.py PROJECT [--again] [PYTEST ARGS...]

PROJECT is a memwise project whose memory environment exists (`nox -s memtest` ran in it).
The project's tests run twice in one process with memwise's plugin and the default budget:
with `--memray` (pytest-memray's Tracker for each test, what memtest did until this round)
and with `--memwise-one-tracker` (what memtest does now). It prints how many tests have the
same peak to the byte, the largest difference, and each test that differs. With `--again`
each way runs a second time too, and it prints how far each way differs from itself: the
noise the comparison stands on. docs/benchmarks.md has the figures and what they mean for the
gate's tolerance.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))  # the repository root: the helpers of its tests
from tests.helpers import memory_environment


def peaks(project: Path, mode: str, folder: Path, args: list[str]) -> dict[str, int]:
    """Each measured test's peak in one run of the project's tests."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / f"{mode.strip('-')}.json"
    command = [
        str(memory_environment(project) / "bin" / "pytest"), "-q", "-p", "no:cacheprovider",
        "-n", "0", mode, f"--memray-bin-path={folder / 'captures'}",
        f"--memwise-manifest={manifest}", "--memwise-default-limit=4 GB", *args,
    ]  # fmt: skip
    subprocess.run(command, cwd=project, capture_output=True, check=False)
    tests = json.loads(manifest.read_text())["tests"]
    # With a marker of its own a test has pytest-memray's Tracker both ways: left out.
    return {
        test["nodeid"]: test["peak_bytes"]
        for test in tests
        if test["peak_bytes"] is not None and test["limit"] == "limit_memory('4 GB')"
    }


def differing(first: dict[str, int], second: dict[str, int]) -> list[int]:
    """The differences, in bytes, of the tests whose peaks are not the same."""
    return [
        second[node] - first[node]
        for node in first
        if node in second and first[node] != second[node]
    ]


def main() -> int:
    project, args = Path(sys.argv[1]).resolve(), sys.argv[2:]
    again = "--again" in args
    args = [arg for arg in args if arg != "--again"]
    with tempfile.TemporaryDirectory() as work:
        per_test = peaks(project, "--memray", Path(work), args)
        one = peaks(project, "--memwise-one-tracker", Path(work), args)
        if again:
            for mode, first in (("--memray", per_test), ("--memwise-one-tracker", one)):
                second = peaks(project, mode, Path(work) / "again", args)
                apart = differing(first, second)
                largest = max(apart, key=abs, default=0)
                print(f"{mode} against itself, two runs: {len(apart)} of {len(first)} tests "
                      f"differ, largest {largest:+d} bytes")  # fmt: skip
    both = sorted(set(per_test) & set(one))
    differences = {nodeid: one[nodeid] - per_test[nodeid] for nodeid in both}
    same = [nodeid for nodeid, difference in differences.items() if difference == 0]
    largest = max(differences.values(), key=abs, default=0)
    print(f"{project}: {len(both)} tests without a marker of their own measured both ways, "
          f"{len(same)} the same to the byte")  # fmt: skip
    print(f"largest difference: {largest:+d} bytes")
    for nodeid, difference in sorted(differences.items(), key=lambda item: -abs(item[1])):
        if difference:
            print(f"  {difference:+10d} bytes  {per_test[nodeid]:>12d} per test  {nodeid}")
    if set(per_test) ^ set(one):
        print(f"measured one way only: {sorted(set(per_test) ^ set(one))}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
