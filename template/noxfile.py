#!/usr/bin/env -S uv run --script
# /// script
# dependencies = ["nox>=2025.10.16"]
# ///
"""What a developer of this project can run. `nox -l` lists it; `make <session>` runs the same.

Tool versions are not listed here: every session installs dependency groups from
pyproject.toml with uv. Memory reports go under reports/<session>/, printed at the end.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import nox

# nox does not put the noxfile's folder on sys.path; tools/ holds the gate's data handling.
sys.path.insert(0, str(Path(__file__).parent))
from tools import memory_gate

nox.needs_version = ">=2025.10.16"
nox.options.default_venv_backend = "uv"
# nox looks for uv the same two ways; without it every session would stop in a traceback.
if not (shutil.which("uv") or importlib.util.find_spec("uv")):
    sys.exit(
        "noxfile.py: uv is not installed, and every session creates its environment with it.\n"
        "Install uv (https://docs.astral.sh/uv/, or `pipx install uv`), or nox with it: "
        "`pipx install 'nox[uv]'`."
    )

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
WORKLOAD = PYPROJECT["tool"]["memwise"]["workload"]
REPORTS = ROOT / "reports"
MEMTEST_PREFIX = "memtest"
BASELINE = ROOT / "memory-baseline.toml"
SUPPORTED_PYTHONS = nox.project.python_versions(PYPROJECT)
# Single-Python sessions run on nox's own Python when the project supports it (None), else on
# the newest supported one.
RUNNING_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
DEFAULT_PYTHON = None if RUNNING_PYTHON in SUPPORTED_PYTHONS else SUPPORTED_PYTHONS[-1]
# Memory figures differ between Python versions: the gate always measures on the newest one.
GATE_PYTHON = SUPPORTED_PYTHONS[-1]


def installed_pythons() -> list[str]:
    """Supported versions (from the classifiers) that are on PATH; all of them if none is."""
    found = [version for version in SUPPORTED_PYTHONS if shutil.which(f"python{version}")]
    return found or SUPPORTED_PYTHONS


# --- sessions -------------------------------------------------------------------------------


@nox.session(python=DEFAULT_PYTHON)
def lint(session: nox.Session) -> None:
    """Check style, formatting, types, pyproject.toml and CI workflows."""
    install(session, only_group="lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("validate-pyproject", "pyproject.toml")
    workflows = ROOT / ".github" / "workflows"
    if workflows.is_dir():
        session.run("zizmor", "--offline", "--min-severity", "medium", str(workflows))


@nox.session(python=installed_pythons())
def tests(session: nox.Session) -> None:
    """Run the tests with plain pytest (no memory tracking) on each supported Python."""
    install(session, "test")
    session.run("pytest", *session.posargs)


@nox.session(python=DEFAULT_PYTHON)
def memtest(session: nox.Session) -> None:
    """Run the tests under pytest-memray: enforce memory limits, show the top allocators."""
    require_memory_tools(session)
    install(session, "memory")
    reports = fresh_reports("memtest")
    captures = reports / "captures"
    try:
        session.run(
            "pytest",
            "--memray",
            "--most-allocations=5",
            "--stacks=8",
            f"--memray-bin-path={captures}",
            f"--memray-bin-prefix={MEMTEST_PREFIX}",
            f"--junitxml={reports / 'junit.xml'}",
            *session.posargs,
        )
    except nox.command.CommandFailed:
        written = []
        for capture in keep_failing_captures(captures):
            test_name = capture.stem.removeprefix(f"{MEMTEST_PREFIX}-")
            written += flamegraphs(session, capture, reports / test_name)
        where = "\n".join(f"  {path}" for path in written) or "  (no capture: not a memory test)"
        session.error(
            f"tests failed; flamegraphs of the failing tests' captures:\n{where}\n"
            "The failures above name each test, its limit and what it allocated."
        )
    shutil.rmtree(captures, ignore_errors=True)  # nothing failed: no capture to keep
    session.log(f"memtest passed; JUnit report: {reports / 'junit.xml'}")


@nox.session(python=DEFAULT_PYTHON, default=False)
def profile(session: nox.Session) -> None:
    """Profile CPU and memory line by line with scalene. Args: [program.py [its args]]."""
    require_memory_tools(session)
    run = parse_program(session, options=())
    if run.module:
        session.error("scalene profiles a file: give the path of a script, not `-m module`")
    install(session, "profile")
    reports = fresh_reports("profile")
    profile_json = reports / "profile.json"
    extra = ["---", *run.args] if run.args else []
    failed = None
    try:
        session.run("scalene", "run", "-o", str(profile_json), run.target, *extra)
    except nox.command.CommandFailed as error:
        failed = error  # report what scalene saved, then fail
        if not profile_json.exists():
            session.error(f"{run.target} failed (exit code {error.return_code}); no profile")
    with session.chdir(reports):
        # scalene 2.x writes scalene-profile.html into the current directory.
        session.run("scalene", "view", "--standalone", profile_json.name)
    html = reports / "profile.html"
    (reports / "scalene-profile.html").replace(html)
    print_scalene_top_lines(json.loads(profile_json.read_text(encoding="utf-8")))
    paths = f"  {profile_json}\n  {html}"
    if failed is not None:
        code = failed.return_code
        session.error(f"{run.target} failed (exit code {code}); its partial profile:\n{paths}")
    session.log(f"profile reports:\n{paths}")


@nox.session(name="profile_view", python=DEFAULT_PYTHON, default=False)
def profile_view(session: nox.Session) -> None:
    """Open the last profile in scalene's browser view, with its AI suggestions (interactive)."""
    require_memory_tools(session)
    require_terminal(session)
    profile_json = REPORTS / "profile" / "profile.json"
    if not profile_json.exists():
        session.error(f"No profile at {profile_json}: run `nox -s profile` first")
    install(session, "profile")
    # API keys (OPENAI_API_KEY, ANTHROPIC_API_KEY ...) come from your environment and stay in
    # the local browser session; the view works without them.
    session.run("scalene", "view", "--api-keys-from-env", str(profile_json))


@nox.session(python=DEFAULT_PYTHON, default=False)
def flamegraph(session: nox.Session) -> None:
    """Record a program with memray: flamegraphs and stats. Args: [options] [program [args]].

    Options: --native (C/C++ frames too), --follow-fork (also record forked worker processes,
    one capture and one set of reports each), --capture FILE (report on an existing capture,
    e.g. one written by tracking.py, instead of running anything).
    """
    require_memory_tools(session)
    run = parse_program(session, options=("--native", "--follow-fork", "--capture"))
    install(session, "memory")
    reports = fresh_reports("flamegraph")
    failed = None
    if run.capture:
        captures = [run.capture]
    else:
        capture = reports / "workload.bin"
        flags = [flag for flag in ("--native", "--follow-fork") if flag in run.options]
        try:
            session.run("memray", "run", *flags, "-q", "-f", "-o", str(capture), *run.command)
        except nox.command.CommandFailed as error:
            failed = error  # memray still wrote the capture: report what it holds, then fail
            if not capture.exists():
                raise
        # With --follow-fork, each forked process writes <capture>.<pid> beside it.
        captures = [capture, *sorted(reports.glob(f"{capture.name}.*"))]
    written = []
    for capture in captures:
        # The first capture gets plain names; a forked worker's <capture>.<pid> adds "-<pid>".
        tag = "" if capture == captures[0] else f"-{capture.name.rsplit('.', 1)[1]}"
        written += flamegraphs(session, capture, reports / f"flamegraph{tag}")
        stats_json = reports / f"stats{tag}.json"
        session.run("memray", "stats", "--json", "-f", "-o", str(stats_json), str(capture))
        written += [stats_json, capture]
    session.run("memray", "stats", str(captures[0]))
    paths = "\n".join(f"  {path}" for path in written)
    if failed is not None:
        code = failed.return_code
        session.error(f"{run.target} failed (exit code {code}); reports of its capture:\n{paths}")
    session.log(f"flamegraph reports:\n{paths}")


@nox.session(python=DEFAULT_PYTHON, default=False)
def live(session: nox.Session) -> None:
    """Watch a program's memory live in memray's terminal view (interactive; never in CI)."""
    require_memory_tools(session)
    require_terminal(session)
    run = parse_program(session, options=("--native",))
    install(session, "memory")
    flags = ["--native"] if "--native" in run.options else []
    session.run("memray", "run", "--live", *flags, *run.command)


@nox.session(python=GATE_PYTHON, default=False)
def memgate(session: nox.Session) -> None:
    """Fail when a memory figure grew past memory-baseline.toml plus the tolerance."""
    require_memory_tools(session)
    install(session, "memory")
    reports = fresh_reports("memgate")
    figures, stats = measure_memory_figures(session, reports)
    # This run's figures in the baseline's format: copy it over the baseline to accept them
    # (handy from a CI artifact when the baseline must come from Linux).
    measured = reports / BASELINE.name
    measured.write_text(memory_gate.baseline_text(figures, GATE_PYTHON, sys.platform), "utf-8")
    recorded = nox.project.load_toml(BASELINE) if BASELINE.exists() else None
    recorded_on = (recorded.get("python"), recorded.get("platform")) if recorded else None
    if recorded_on and recorded_on != (GATE_PYTHON, sys.platform):
        session.skip(
            f"{BASELINE.name} was recorded on Python {recorded.get('python')}, "
            f"{recorded.get('platform')}: figures differ elsewhere, so they are checked there "
            "(CI checks them on Linux)."
        )
    tolerance = memory_gate.Tolerance.from_config(PYPROJECT["tool"]["memwise"].get("gate", {}))
    comparisons = memory_gate.compare(recorded["figures"] if recorded else {}, figures, tolerance)
    summary = reports / "summary.md"
    summary.write_text(memory_gate.summary_markdown(comparisons, tolerance, stats), "utf-8")
    for comparison in comparisons:
        session.log(comparison.describe())
    if recorded is None:
        session.warn(
            f"No {BASELINE.name} yet, so nothing to compare: record one with `nox -s baseline` "
            f"(or copy {measured}) and commit it."
        )
        return
    regressions = [c for c in comparisons if c.status == "REGRESSION"]
    if regressions:
        flamegraphs(session, reports / "workload.bin", reports / "workload")
        session.error(
            f"memory regression: {len(regressions)} figure(s) above {BASELINE.name} + "
            f"tolerance ({tolerance}, set in [tool.memwise.gate] of pyproject.toml):\n"
            + "\n".join(f"  {c.describe()}" for c in regressions)
            + f"\nOpen {reports / 'workload.html'} for the workload, and run "
            "`nox -s memtest` for a flamegraph of a failing test. If the growth is intended, "
            f"record it with `nox -s baseline` and commit {BASELINE.name}."
        )
    session.log(f"memory gate passed (tolerance {tolerance}); summary: {summary}")


@nox.session(python=GATE_PYTHON, default=False)
def baseline(session: nox.Session) -> None:
    """Record the figures memgate checks into memory-baseline.toml; commit that file."""
    require_memory_tools(session)
    install(session, "memory")
    figures, _ = measure_memory_figures(session, fresh_reports("baseline"))
    BASELINE.write_text(
        memory_gate.baseline_text(figures, GATE_PYTHON, sys.platform), encoding="utf-8"
    )
    session.log(f"wrote {BASELINE}: review and commit it")


# --- helpers --------------------------------------------------------------------------------


def install(session: nox.Session, *groups: str, only_group: str | None = None) -> None:
    """Install the project with dependency groups from pyproject.toml, or one group alone."""
    selection = [f"--only-group={only_group}"] if only_group else [f"--group={g}" for g in groups]
    session.run_install(
        "uv", "sync", "--no-default-groups", *selection,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
    )  # fmt: skip


def require_memory_tools(session: nox.Session) -> None:
    """Stop with advice where memray (and scalene's memory profiling) cannot run."""
    if sys.platform == "win32":
        session.error(
            f"`{session.name}` needs memray, which does not run on Windows. Run it in WSL or "
            "on Linux/macOS (CI runs it on Linux); `nox -s tests` and `nox -s lint` work here"
        )


def fresh_reports(name: str) -> Path:
    """An empty reports/<name>/ folder, so no report of an earlier run is mistaken for new."""
    folder = REPORTS / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@dataclass
class Program:
    """What a session runs: the session's own options, then a script or `-m module` and args."""

    options: dict[str, str | bool] = field(default_factory=dict)
    target: str = WORKLOAD
    module: bool = False
    args: list[str] = field(default_factory=list)

    @property
    def command(self) -> list[str]:
        return [*(["-m"] if self.module else []), self.target, *self.args]

    @property
    def capture(self) -> Path | None:
        value = self.options.get("--capture")
        return Path(value) if isinstance(value, str) else None


def parse_program(session: nox.Session, options: tuple[str, ...]) -> Program:
    """Read `[options] [program.py | -m module] [args]` from the arguments after `--`."""
    words = list(session.posargs)
    program = Program()
    while words and words[0].startswith("--") and words[0] != "---":
        option = words.pop(0)
        if option not in options:
            known = ", ".join(options) or "none"
            session.error(f"Unknown option {option} for `{session.name}` (its options: {known})")
        program.options[option] = words.pop(0) if option == "--capture" and words else True
    if program.options.get("--capture") is True:
        session.error("--capture needs the path of a memray capture file")
    if program.capture:
        if not program.capture.is_file():
            session.error(f"No such capture: {program.capture}")
        return program
    if words[:1] == ["-m"]:
        if len(words) < 2:
            session.error("-m needs a module name, e.g. `-m mypackage.tool`")
        return replace(program, target=words[1], module=True, args=words[2:])
    if words:
        program = replace(program, target=words[0], args=words[1:])
    if not Path(program.target).is_file():
        session.error(
            f"No such program: {program.target}. Give a Python file (or `-m module`) after "
            f"`--`, e.g. `nox -s {session.name} -- {WORKLOAD} --help`, or set "
            "[tool.memwise] workload in pyproject.toml"
        )
    return program


def require_terminal(session: nox.Session) -> None:
    """Stop an interactive session at once where nobody can interact (CI, a pipe)."""
    if not (session.interactive and sys.stdout.isatty()):
        session.error(
            f"`{session.name}` is interactive and needs a terminal; none is attached (CI, a "
            "pipe or --non-interactive). Use `nox -s flamegraph` for a report instead"
        )


def keep_failing_captures(captures: Path) -> list[Path]:
    """Delete the captures of passing tests; return those of the tests that failed."""
    lastfailed = ROOT / ".pytest_cache" / "v" / "cache" / "lastfailed"
    failed = json.loads(lastfailed.read_text(encoding="utf-8")) if lastfailed.exists() else {}
    # pytest-memray names each capture <prefix>-<test id with "::" and "/" as "-">.bin
    wanted = {
        f"{MEMTEST_PREFIX}-{test.replace('::', '-').replace('/', '-')}.bin" for test in failed
    }
    kept = []
    for capture in captures.glob("*.bin"):
        if capture.name in wanted:
            kept.append(capture)
        else:
            capture.unlink()
    # pytest-memray's own bookkeeping, not a report.
    shutil.rmtree(captures / "metadata", ignore_errors=True)
    if not kept:
        shutil.rmtree(captures, ignore_errors=True)
    return sorted(kept)


def flamegraphs(session: nox.Session, capture: Path, stem: Path) -> list[Path]:
    """Self-contained (offline) flamegraphs of a capture: peak memory, and what was not freed."""
    peak, leaks = stem.parent / f"{stem.name}.html", stem.parent / f"{stem.name}-leaks.html"
    session.run("memray", "flamegraph", "--no-web", "-f", "-o", str(peak), str(capture))
    session.run("memray", "flamegraph", "--leaks", "--no-web", "-f", "-o", str(leaks), str(capture))
    return [peak, leaks]


def measure_memory_figures(session: nox.Session, reports: Path) -> tuple[dict[str, int], dict]:
    """The gate's figures: the workload's peak and total allocated, each memory test's peak."""
    capture = reports / "workload.bin"
    session.run("memray", "run", "-q", "-f", "-o", str(capture), WORKLOAD, silent=True)
    stats_json = reports / "stats.json"
    session.run("memray", "stats", "--json", "-f", "-o", str(stats_json), str(capture), silent=True)
    stats = json.loads(stats_json.read_text(encoding="utf-8"))
    figures = {
        "workload peak": stats["metadata"]["peak_memory"],
        "workload total allocated": stats["total_bytes_allocated"],
    }
    tests = reports / "tests"
    session.run(
        "pytest", "--memray", "-m", "limit_memory or limit_leaks", "-p", "no:cacheprovider",
        f"--memray-bin-path={tests}", "--memray-bin-prefix=gate", "--hide-memray-summary", "-q",
    )  # fmt: skip
    peaks = session.run("python", "tools/memory_gate.py", "peaks", str(tests), "gate", silent=True)
    for test, peak in json.loads(peaks).items():
        figures[f"{test} peak"] = peak
    return figures, stats


def print_scalene_top_lines(profile: dict, count: int = 5) -> None:
    """Print the lines that allocated the most memory and took the most time in a profile."""
    lines = [
        (f"{filename}:{line['lineno']}", line)
        for filename, data in profile.get("files", {}).items()
        for line in data.get("lines", [])
    ]
    rankings = {
        "memory allocated (MB)": lambda line: line.get("n_malloc_mb", 0.0),
        "time (% of CPU)": lambda line: (
            line.get("n_cpu_percent_python", 0.0) + line.get("n_cpu_percent_c", 0.0)
        ),
    }
    for title, measure in rankings.items():
        print(f"\nTop lines by {title}, from scalene:")
        ranked = sorted(lines, key=lambda item: measure(item[1]), reverse=True)[:count]
        for where, line in ranked:
            if measure(line) > 0:
                print(f"  {measure(line):8.1f}  {where}  {line['line'].strip()}")


if __name__ == "__main__":
    nox.main()
