"""Speed benchmark of memwise: render time, time to a green memtest, and nox's overhead.

Run it with `make benchmark` (or `nox -s benchmark -- --runs 5`). It measures on this machine, on
a warm uv cache (one unmeasured warm-up round comes first), and prints medians, because shared
machines are noisy. The figures and the method are in docs/benchmarks.md.

1. render: `copier copy --defaults` of a clean clone of this repository (HEAD) into a new folder.
2. time to green: the render plus the first `nox -s memtest` in it (creating its environment
   and installing pytest, memray and pytest-memray with uv, from the uv.lock the render ships).
3. reused memtest: `nox -R -s memtest`, each run followed by the very pytest command it runs,
   called directly in the session's environment; the median difference is what nox adds.
4. resolution: `uv lock` alone in each project of step 2 (its uv.lock removed first): what the
   first memtest would spend on the package index if the render shipped no lock (until
   2026-11-27 it did not, and this was part of the time to green).
5. memtest against plain pytest: memtest's pytest command and plain pytest (`-p no:memray
   -p no:memwise`) with the same pytest-xdist workers, in the same environment, paired, on the
   render's own suite, on 400 generated small tests (a few allocations each: memray's cost per
   test shows) and on 300 service-like tests (a database and JSON, tens of milliseconds each);
   memtest against pytest-memray alone (`pytest --memray`, its Tracker per test) the same way;
   both again in one process (`-n 0`); and, apart, what the workers gain: plain pytest in one
   process against plain pytest with memtest's workers.
   Then the service-like suite in two shards started at once (`--shard 1/2` and `2/2`, one
   process each: two runners) against one runner, paired.
6. the shared environment: the first `nox -s baseline -- --runs 1` after memtest, timed, and
   whether it installed anything (it should reuse memtest's environment).
7. profile and flamegraph against the program's own time: `nox -R -s flamegraph` and
   `nox -R -s profile` on the render's workload, each paired with the workload run plainly by
   the same environment's Python.
8. with `--peer TEMPLATE` (a folder, or a git bundle such as scientific-python/cookie's): the
   same time to green for another Copier template (render with its defaults and any
   `--peer-data KEY=VALUE`, `git init`, then its first `nox -s tests`, or `--peer-session`),
   each run right after one of memwise's (side by side), and the ratio memwise / peer.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))  # the repository root: the helpers of its tests
from tests.helpers import memory_environment

# Python may write bytecode, as on a user's machine (some CI images forbid it, and then every
# start of copier or nox compiles its imports again: that is not what users wait for).
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def quiet_run(command: list[str], cwd: Path) -> None:
    subprocess.run(command, cwd=cwd, env=ENV, check=True, capture_output=True)


def timed(command: list[str], cwd: Path) -> float:
    """Seconds one command takes; it must succeed."""
    start = time.perf_counter()
    quiet_run(command, cwd)
    return time.perf_counter() - start


def median_of(runs: int, measure: Callable[[int], float]) -> tuple[float, list[float]]:
    samples = [measure(index) for index in range(runs)]
    return statistics.median(samples), samples


def render_command(source: Path, destination: Path) -> list[str]:
    return [str(BIN / "copier"), "copy", "--defaults", "--quiet", str(source), str(destination)]


def memtest_pytest_command(project: Path) -> list[str]:
    """The pytest command the memtest session runs, as its log shows it, for a direct run."""
    log = subprocess.run([str(BIN / "nox"), "-R", "-s", "memtest"], cwd=project, env=ENV,
                         capture_output=True, text=True, check=True).stderr  # fmt: skip
    line = next(line for line in log.splitlines() if line.startswith("nox > pytest "))
    return [str(memory_environment(project) / "bin" / "pytest"), *shlex.split(line)[3:]]


# TESTS in a suite stands for its number of tests (fewer in a smoke run).
GENERATED_SUITE = """\
import pytest


@pytest.mark.parametrize("size", range(TESTS))
def test_small_allocation(size: int) -> None:
    data = [bytes(100 + size) for _ in range(200)]
    assert len(data) == 200
"""


# Tests that do a service's work (a database, JSON) rather than a few allocations: each
# allocates as it goes, as real tests do, and takes tens of milliseconds.
SERVICE_SUITE = """\
import json
import sqlite3

import pytest


@pytest.mark.parametrize("customer", range(TESTS))
def test_a_customer_report_round_trips(customer: int) -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, amount INTEGER)")
    db.executemany(
        "INSERT INTO orders (customer, amount) VALUES (?, ?)",
        ((number % 50, number) for number in range(60_000)),
    )
    rows = db.execute(
        "SELECT id, amount FROM orders WHERE customer = ?", (customer % 50,)
    ).fetchall()
    db.close()
    report = json.loads(json.dumps([{"id": key, "amount": amount} for key, amount in rows]))
    assert len(report) == 1200
"""


def rounds(
    commands: dict[str, list[str]], extra: list[str], cwd: Path, runs: int
) -> list[dict[str, float]]:
    """Each command timed right after the others, ``runs`` times (the machine drifts less
    within a round than between two blocks of runs); ``extra`` ends each command."""
    return [
        {name: timed([*command, *extra], cwd) for name, command in commands.items()}
        for _ in range(runs)
    ]


def ratio_of(samples: list[dict[str, float]], first: str, second: str) -> float:
    """The median of the rounds' ratios first / second."""
    return statistics.median(sample[first] / sample[second] for sample in samples)


def worker_flags(command: list[str]) -> list[str]:
    """memtest's pytest-xdist workers (``-n N``), to give plain pytest the same."""
    for index, word in enumerate(command):
        if word == "-n" and index + 1 < len(command):
            return command[index : index + 2]
        if word.startswith("-n") and word[2:].isalnum():
            return [word]
    return []


def peer_template(peer: Path, work: Path) -> Path:
    """The peer as a folder copier can render: a git bundle is cloned first."""
    if peer.is_file() and peer.suffix == ".bundle":
        clone = work / f"peer-{peer.stem}"
        subprocess.run(["git", "clone", "-q", str(peer), str(clone)], check=True)
        return clone
    return peer.resolve()


def peer_render_command(template: Path, destination: Path, data: list[str]) -> list[str]:
    # --trust: peers such as cookie run their own Jinja extensions (copier-templates-extensions).
    answers = [arg for item in data for arg in ("--data", item)]
    head = ["--vcs-ref=HEAD"] if (template / ".git").exists() else []  # the clone as it is
    return [*render_command(template, destination), "--trust", *head, *answers]


def workload_ratio(
    session: str, project: Path, python: Path, workload: str, runs: int
) -> list[tuple[float, float]]:
    """A reused session on the workload, each run paired with the workload run plainly."""
    nox = [str(BIN / "nox"), "-R", "-s", session]
    times = rounds({"session": nox, "alone": [str(python), workload]}, [], project, runs)
    return [(sample["session"], sample["alone"]) for sample in times]


def shards_at_once(commands: list[list[str]], cwd: Path) -> float:
    """Wall seconds of the commands started together, as parallel CI runners run shards."""
    start = time.perf_counter()
    running = [
        subprocess.Popen(
            command, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for command in commands
    ]
    if any(process.wait() != 0 for process in running):
        raise SystemExit(f"a shard failed: {commands}")
    return time.perf_counter() - start


def relock(project: Path) -> float:
    """Seconds uv takes to resolve the project again: round trips to the index, mostly."""
    (project / "uv.lock").unlink()
    return timed([str(BIN / "uv"), "lock", "--quiet"], project)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs of each figure")
    parser.add_argument("--peer", type=Path, help="another Copier template to compare with")
    parser.add_argument("--peer-session", default="tests", help="the peer's first nox session")
    parser.add_argument(
        "--peer-data", action="append", default=[], metavar="KEY=VALUE",
        help="an answer for the peer's questions (repeat it)",
    )  # fmt: skip
    parser.add_argument(
        "--smoke", action="store_true",
        help="check that every figure is measured: no warm-up rounds, 40 generated tests",
    )  # fmt: skip
    args = parser.parse_args()
    nox = [str(BIN / "nox")]
    work = Path(tempfile.mkdtemp(prefix="memwise-bench-"))
    try:
        source = work / "memwise"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(source)], check=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        if dirty:
            print("note: uncommitted changes are not measured (the clone is of HEAD)")

        def render(index: int) -> float:
            return timed(render_command(source, work / f"render-{index}"), work)

        def render_and_memtest(index: int) -> float:
            project = work / f"green-{index}"
            start = time.perf_counter()
            quiet_run(render_command(source, project), work)
            quiet_run([*nox, "-s", "memtest"], project)
            return time.perf_counter() - start

        peer_source = peer_template(args.peer, work) if args.peer else None

        def peer_green(index: int) -> float:
            assert peer_source is not None
            target = work / f"peer-{index}"
            start = time.perf_counter()
            quiet_run(peer_render_command(peer_source, target, args.peer_data), work)
            quiet_run(["git", "init", "-q"], target)
            quiet_run([*nox, "-s", args.peer_session], target)
            return time.perf_counter() - start

        if not args.smoke:
            print("warming up (uv cache, copier, nox) ...", flush=True)
            render_and_memtest(-1)
            if peer_source is not None:
                peer_green(-1)

        render_median, render_samples = median_of(args.runs, render)
        # Side by side: each of memwise's runs is followed at once by the peer's.
        green_samples, peer_samples = [], []
        for index in range(args.runs):
            green_samples.append(render_and_memtest(index))
            if peer_source is not None:
                peer_samples.append(peer_green(index))
        green_median = statistics.median(green_samples)
        project = work / "green-0"
        # The gate's first session after memtest, in memtest's environment.
        started = time.perf_counter()
        baseline_log = subprocess.run(
            [*nox, "-s", "baseline", "--", "--runs", "1"], cwd=project, env=ENV,
            capture_output=True, text=True, check=True,
        ).stderr  # fmt: skip
        first_baseline = time.perf_counter() - started
        reused = "reusing .nox/memwise-memory-" in baseline_log
        python = memory_environment(project) / "bin" / "python"
        workload = "src/my_service/workload.py"
        flamegraph_pairs = workload_ratio("flamegraph", project, python, workload, args.runs)
        subprocess.run([*nox, "-s", "profile"], cwd=project, env=ENV, capture_output=True,
                       check=True)  # fmt: skip
        (profile_environment,) = project.glob(".nox/memwise-profile-*")
        profile_pairs = workload_ratio(
            "profile", project, profile_environment / "bin" / "python", workload, args.runs
        )
        # Each nox run is paired with a direct run right after it, and the overhead is the median
        # of the pairs' differences: the machine's speed drifts less within a pair than between
        # two blocks of runs.
        memtest = memtest_pytest_command(project)
        pairs = [
            (timed([*nox, "-R", "-s", "memtest"], project), timed(memtest, project))
            for _ in range(args.runs)
        ]
        nox_samples, bare_samples = [with_nox for with_nox, _ in pairs], [bare for _, bare in pairs]
        overhead = statistics.median(with_nox - bare for with_nox, bare in pairs)
        ratio = statistics.median(with_nox / bare for with_nox, bare in pairs)
        # `nox -l` against `nox --version`: what importing the noxfile costs (issue 35: within 1.5x).
        listing = [
            (timed([*nox, "-l"], project), timed([*nox, "--version"], project))
            for _ in range(args.runs)
        ]
        lock_median, lock_samples = median_of(
            args.runs, lambda index: relock(work / f"green-{index}")
        )
        alone = [memtest[0], "-q", "-p", "no:memray", "-p", "no:memwise", "-p", "no:cacheprovider"]
        workers_of_memtest = worker_flags(memtest)
        plain = [*alone, *workers_of_memtest]  # like for like: memtest's workers
        # pytest-memray alone: its Tracker for every test, as `pytest --memray` gives it.
        memray_alone = [memtest[0], "-q", "-p", "no:memwise", "-p", "no:cacheprovider", "--memray"]
        one_process = ["-n", "0"] if workers_of_memtest else []
        commands = {
            "memtest": memtest, "plain": plain, "memray": [*memray_alone, *workers_of_memtest],
            "memtest, one process": [*memtest, *one_process], "plain, one process": alone,
            "memray, one process": memray_alone,
        }  # fmt: skip
        suites = {"its own suite": rounds(commands, [], project, args.runs)}
        scale = 10 if args.smoke else 1  # a smoke run checks the figures come out, quickly
        for name, file, suite, size in [
            ("small tests", "test_small.py", GENERATED_SUITE, 400 // scale),
            ("service-like tests", "test_service_like.py", SERVICE_SUITE, 300 // scale),
        ]:
            path = project / "tests" / file
            path.write_text(suite.replace("TESTS", str(size)))
            suites[f"{size} {name}"] = rounds(commands, [str(path)], project, args.runs)
        # Two shards at once (two runners, one core each here) against one runner, in one
        # process each: the service-like suite, paired round by round.
        service_suite = str(project / "tests" / "test_service_like.py")
        one_runner = [*memtest, *one_process, service_suite]
        sharded = [
            # Each its own reports, as on its own runner (the last of a repeated flag wins).
            [*one_runner, f"--memwise-shard={index}/2",
             f"--memwise-manifest={project / f'shard-{index}' / 'manifest.json'}",
             f"--memray-bin-path={project / f'shard-{index}' / 'captures'}",
             f"--junitxml={project / f'shard-{index}' / 'junit.xml'}"]
            for index in (1, 2)
        ]  # fmt: skip
        for index in (1, 2):
            (project / f"shard-{index}").mkdir(exist_ok=True)
        shard_pairs = [
            (timed(one_runner, project), shards_at_once(sharded, project)) for _ in range(args.runs)
        ]
        peer = (statistics.median(peer_samples), peer_samples) if peer_samples else None
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def show(label: str, median: float, samples: list[float]) -> None:
        runs = ", ".join(f"{sample:.2f}" for sample in samples)
        print(f"{label:<44} {median:6.2f} s   (runs: {runs})")

    # The index's latency changes through the day (docs/benchmarks.md): say when this was.
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"\nmedians of {args.runs} runs, warm uv cache, Python {sys.version.split()[0]}, {when}")
    show("render (copier copy --defaults)", render_median, render_samples)
    show("time to green (render + first memtest)", green_median, green_samples)
    show("resolving without the shipped lock (uv lock)", lock_median, lock_samples)
    show("nox -R -s memtest (reused environment)", statistics.median(nox_samples), nox_samples)
    show("the same pytest command, run directly", statistics.median(bare_samples), bare_samples)
    print(
        f"{'nox overhead on a reused memtest':<44} {overhead:6.2f} s"
        f"   (median of the pairs' differences; ratio {ratio:.2f})"
    )
    listed = statistics.median(listed for listed, _ in listing)
    print(
        f"{'nox -l / nox --version':<44} {listed:6.2f} s"
        f"   (ratio {statistics.median(listed / bare for listed, bare in listing):.2f}, "
        f"nox --version {statistics.median(bare for _, bare in listing):.2f} s)"
    )
    workers = " ".join(worker_flags(memtest)) or "no workers"
    for suite, samples in suites.items():
        for label, first, second, how in [
            ("memtest / plain pytest", "memtest", "plain", f"both {workers}"),
            ("memtest / pytest-memray alone", "memtest", "memray", f"both {workers}"),
            ("memtest / plain pytest, one process", "memtest, one process",
             "plain, one process", "-n 0"),
            ("memtest / pytest-memray alone, one process", "memtest, one process",
             "memray, one process", "-n 0"),
            (f"plain pytest, {workers} / one process", "plain", "plain, one process", "plain"),
        ]:  # fmt: skip
            times = ", ".join(f"{sample[first]:.2f}/{sample[second]:.2f}" for sample in samples)
            print(f"{label + ', ' + suite:<44} {ratio_of(samples, first, second):6.2f} x   "
                  f"({how}; runs, {first}/{second} s: {times})")  # fmt: skip
    times = ", ".join(f"{sharded:.2f}/{one:.2f}" for one, sharded in shard_pairs)
    shard_ratio = statistics.median(sharded / one for one, sharded in shard_pairs)
    print(f"{'memtest in 2 shards at once / one runner':<44} {shard_ratio:6.2f} x   "
          f"(the service-like suite, one process each; runs, sharded/one s: {times})")  # fmt: skip
    installs = "installed nothing: reused memtest's environment" if reused else "INSTALLED AGAIN"
    print(f"{'first baseline after memtest (1 run)':<44} {first_baseline:6.2f} s   ({installs})")
    for label, pairs_of_session in [
        ("nox -R -s flamegraph / the workload alone", flamegraph_pairs),
        ("nox -R -s profile / the workload alone", profile_pairs),
    ]:
        times = ", ".join(f"{session:.2f}/{alone:.2f}" for session, alone in pairs_of_session)
        session_ratio = statistics.median(session / alone for session, alone in pairs_of_session)
        print(f"{label:<44} {session_ratio:6.2f} x   (runs, session/alone s: {times})")
    if peer is not None:
        show(f"peer time to green ({args.peer.name})", *peer)
        ratios = [mine / theirs for mine, theirs in zip(green_samples, peer[1], strict=True)]
        print(f"{'time to green, memwise / peer':<44} {statistics.median(ratios):6.2f} x"
              "   (median of the side-by-side pairs' ratios)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
