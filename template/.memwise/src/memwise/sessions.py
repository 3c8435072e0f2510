"""The work behind memwise's nox sessions; ``memwise.nox_sessions`` declares the sessions.

Each public function is the body of the session of the same name. What they share: install
the project's tests and memwise's toolkit, run a tool, keep the reports under one folder
and print where they are. Messages say what went wrong and what to do, never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nox

from memwise import baseline, gate, gate_reports
from memwise.manifest import MANIFEST_NAME, Manifest
from memwise.options import (
    HelpShown,
    Options,
    OptionsError,
    Program,
    parse_profile_options,
    parse_program_options,
)
from memwise.reports import flamegraphs, fresh_folder, listing, scalene_top_lines
from memwise.settings import Settings, SettingsError, load

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SITES = 30  # call sites of the workload kept per baseline (memray stats -n)

PYTEST_EXIT_MESSAGES = {
    2: "pytest was interrupted (exit code 2) before the run completed; see its output above",
    3: "pytest stopped on an internal error (exit code 3), often a plugin or conftest.py "
    "failing; see the INTERNALERROR lines above",
    4: "pytest reported a usage error (exit code 4) and ran no test: check the arguments after "
    "`--` and [tool.memwise] pytest-args against pytest's message above",
    5: "pytest collected no test (exit code 5): check testpaths in your pytest configuration "
    "and the arguments after `--`",
}


def require_python(session: nox.Session, version: str | None, purpose: str) -> None:
    """Stop when the session could not get the interpreter it must run on."""
    require_memory_tools(session)  # first: on Windows, that is the reason
    if version is None:
        session.error(purpose)
    if session.python is False:  # declared without an interpreter: it is not installed here
        session.error(
            f"`{session.name}` runs on Python {version} ({purpose}), which is not installed "
            f"here. Install it (`uv python install {version}`, pyenv, or python.org), or set "
            'memory-python = "3.X" in [tool.memwise] of pyproject.toml to a version you have.'
        )
    session.log(f"{session.name} runs on Python {version} ({purpose})")


def require_memory_tools(session: nox.Session) -> None:
    """Stop with advice where memray (and so every memory session) cannot run."""
    if sys.platform == "win32":
        session.error(
            f"`{session.name}` needs memray, which does not run on Windows. Run it in WSL or "
            "on Linux/macOS (CI runs it on Linux); your own test and lint sessions work here"
        )


def install(session: nox.Session, settings: Settings, *, profile: bool = False) -> None:
    """Install the project's tests and memwise's toolkit (with scalene for ``profile``).

    A project that lists memwise in a dependency group gets everything from its lock with
    ``uv sync``; any other project gets its own test dependencies (groups, extras,
    requirements files) and the toolkit from ``.memwise`` with ``uv pip install``, which
    writes nothing into the project.
    """
    ignore_in_git(Path(session.virtualenv.location).parent)
    group = settings.profile_group if profile else settings.memory_group
    if group:
        session.run_install(
            "uv", "sync", "--no-default-groups", f"--group={group}",
            env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        )  # fmt: skip
        return
    extras = ",".join(settings.test_extras)
    if settings.installable:
        project = ["-e", f".[{extras}]" if extras else "."]
    else:  # not buildable: its dependencies only; programs import it from the folder
        project = ["-r", "pyproject.toml", *(f"--extra={extra}" for extra in settings.test_extras)]
    groups = [f"--group={group}" for group in settings.test_groups]
    requirements = [arg for name in settings.test_requirements for arg in ("-r", name)]
    toolkit = ".memwise[profile]" if profile else ".memwise"
    session.install(*project, *groups, *requirements, "-e", toolkit)


def ignore_in_git(folder: Path) -> None:
    """Let nox's folder of environments ignore itself in git, as .pytest_cache does: a
    project without `.nox/` in its .gitignore stays clean (and `copier update` can run)."""
    marker = folder / ".gitignore"
    if folder.is_dir() and not marker.exists():
        marker.write_text("# written by memwise: nox's environments are not committed\n*\n")


def program_env(settings: Settings) -> dict[str, str]:
    """The environment of a program or pytest: [tool.memwise.env], and the project's folders
    on PYTHONPATH when the project is not installable (so a workload can import it)."""
    env = dict(settings.env)
    if not settings.installable:
        paths = [str(path) for path in settings.import_paths]
        env["PYTHONPATH"] = os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    return env


def run_pytest(session: nox.Session, settings: Settings, *args: str) -> int:
    """Run pytest with the project's settings; its exit code (pytest's own meanings)."""
    # Set by an outer pytest-memray run, it would make capture names random uuids.
    env: dict[str, str | None] = {**program_env(settings), "MEMRAY_RESULT_PATH": None}
    try:
        session.run("pytest", *args, *settings.pytest_args, env=env)
    except nox.command.CommandFailed as error:
        return error.return_code if error.return_code is not None else 1
    return 0


def memtest_flags(settings: Settings, reports: Path, prefix: str) -> list[str]:
    """pytest-memray's flags and memwise's: pytest-memray ignores its ini keys, so flags."""
    limit = [f"--memwise-default-limit={settings.default_limit}"] if settings.default_limit else []
    return [
        "--memray", f"--memray-bin-path={reports / 'captures'}", f"--memray-bin-prefix={prefix}",
        f"--memwise-manifest={reports / MANIFEST_NAME}", *limit,
    ]  # fmt: skip


def workers(settings: Settings) -> list[str]:
    """pytest-xdist's options for memtest: one worker per core by default, none on one core.

    The gate does not use them: its figures are compared across runs, and worker processes
    add their own threads' allocations to a test's total.
    """
    if settings.workers is None or (settings.workers == "auto" and (os.cpu_count() or 1) < 2):
        return []
    return ["-n", settings.workers]


def read_manifest(session: nox.Session, reports: Path, code: int) -> Manifest:
    """The run's manifest; stop with pytest's reason when it ended before writing one."""
    path = reports / MANIFEST_NAME
    if (code in PYTEST_EXIT_MESSAGES and code != 5) or not path.is_file():
        session.error(PYTEST_EXIT_MESSAGES.get(code, f"pytest ended with exit code {code}"))
    return Manifest.read(path)


def keep_failing_captures(
    manifest: Manifest, reports: Path, also: Collection[str] = ()
) -> list[Path]:
    """Delete the captures of tests that passed; return those of the tests that failed (and
    of the tests named in ``also``, e.g. whose peak regressed)."""
    captures = reports / "captures"
    failing = {
        Path(test.capture).resolve()
        for test in manifest.tests
        if test.capture and (test.outcome == "failed" or test.nodeid in also)
    }
    kept = []
    for capture in sorted(captures.glob("*.bin")) if captures.is_dir() else []:
        if capture.resolve() in failing:
            kept.append(capture)
        else:
            capture.unlink()
    for leftover in sorted(captures.glob("**/*"), reverse=True) if captures.is_dir() else []:
        if leftover.suffix != ".bin":  # pytest-memray's own bookkeeping, not a report
            leftover.rmdir() if leftover.is_dir() else leftover.unlink()
    if captures.is_dir() and not any(captures.iterdir()):
        captures.rmdir()
    return kept


def warn_unmeasured(session: nox.Session, manifest: Manifest) -> None:
    unmeasured = manifest.unmeasured
    if unmeasured:
        names = listing([Path(test.nodeid) for test in unmeasured[:10]])
        more = f"\n  ... and {len(unmeasured) - 10} more" if len(unmeasured) > 10 else ""
        session.warn(
            f"{len(unmeasured)} of {len(manifest.tests)} tests ran WITHOUT memory tracking "
            f"(neither test functions nor unittest.TestCase methods):\n{names}{more}"
        )


def memtest(session: nox.Session, settings: Settings) -> None:
    require_memory_tools(session)
    install(session, settings)
    reports = fresh_folder(settings.root / settings.reports / "memtest")
    flags = memtest_flags(settings, reports, "memtest")
    junit = reports / "junit.xml"
    summary = ["--most-allocations=5", "--stacks=8", f"--junitxml={junit}"]
    code = run_pytest(session, settings, *flags, *workers(settings), *summary, *session.posargs)
    manifest = read_manifest(session, reports, code)
    warn_unmeasured(session, manifest)
    kept = keep_failing_captures(manifest, reports)
    if code == 1:
        written = [
            path
            for capture in kept
            for path in flamegraphs(session, capture, reports / capture.stem)
        ]
        failed = listing([Path(test.nodeid) for test in manifest.failed])
        session.error(
            f"{len(manifest.failed)} test(s) failed on Python {manifest.python}:\n{failed}\n"
            f"Flamegraphs of their captures:\n{listing(written) or '  (none: no capture)'}\n"
            "The failures above name each test, its limit and what it allocated."
        )
    measured = len(manifest.tests) - len(manifest.unmeasured)
    session.log(
        f"memtest passed on Python {manifest.python}: {measured} of {len(manifest.tests)} tests "
        f"measured; JUnit report: {junit}"
    )


def workload_program(session: nox.Session, settings: Settings, options: Options) -> Program:
    """The program to run: the one given after `--`, else the configured workload."""
    if options.program is not None:
        program = options.program
    elif settings.workload is not None:
        program = Program(str(settings.root / settings.workload))
    else:
        session.error(
            f"`{session.name}` needs a program: name your workload script in pyproject.toml "
            '([tool.memwise] workload = "path/to/workload.py") or give one after `--`, e.g. '
            f"`nox -s {session.name} -- scripts/load.py` (`-- --help` lists the options)"
        )
    if not program.module and not Path(program.target).is_file():
        session.error(f"No such program: {program.target} (give a Python file or `-m module`)")
    return program


def parse(session: nox.Session, parser_result: Any) -> Options:
    """Run an options parser on the session's arguments; --help ends the session there."""
    try:
        options: Options = parser_result(list(session.posargs))
    except HelpShown:
        session.skip("options shown")
    except OptionsError as error:
        session.error(str(error))
    return options


def profile(session: nox.Session, settings: Settings) -> None:
    require_memory_tools(session)
    options = parse(session, parse_profile_options)
    program = workload_program(session, settings, options)
    install(session, settings, profile=True)
    reports = fresh_folder(settings.root / settings.reports / "profile")
    profile_json = reports / "profile.json"
    defaults = ["--no-async", f"--program-path={settings.root}"]
    extra = ["---", *program.args] if program.args else []
    command = ["scalene", "run", "-o", str(profile_json), *defaults, *options.tool_args]
    failed = None
    try:
        session.run(*command, program.target, *extra, env=program_env(settings))
    except nox.command.CommandFailed as error:
        failed = error  # report what scalene saved, then fail
        if not profile_json.exists():
            session.error(f"{program.target} failed (exit code {error.return_code}); no profile")
    with session.chdir(reports):
        # scalene 2.x writes scalene-profile.html into the current directory.
        session.run("scalene", "view", "--standalone", profile_json.name)
    html = reports / "profile.html"
    (reports / "scalene-profile.html").replace(html)
    print(scalene_top_lines(json.loads(profile_json.read_text(encoding="utf-8"))))
    paths = listing([profile_json, html])
    if failed is not None:
        session.error(
            f"{program.target} failed (exit code {failed.return_code}); its partial profile:\n{paths}"
        )
    session.log(f"profile reports:\n{paths}")


def profile_view(session: nox.Session, settings: Settings) -> None:
    require_memory_tools(session)
    require_terminal(session)
    profile_json = settings.root / settings.reports / "profile" / "profile.json"
    if not profile_json.exists():
        session.error(f"No profile at {profile_json}: run `nox -s profile` first")
    install(session, settings, profile=True)
    # API keys (OPENAI_API_KEY, ANTHROPIC_API_KEY ...) come from your environment and stay in
    # the local browser session; the view works without them.
    session.run("scalene", "view", "--api-keys-from-env", str(profile_json))


def flamegraph(session: nox.Session, settings: Settings) -> None:
    require_memory_tools(session)
    options = parse(session, lambda words: parse_program_options("flamegraph", words))
    program = None if options.capture else workload_program(session, settings, options)
    install(session, settings)
    reports = fresh_folder(settings.root / settings.reports / "flamegraph")
    failed = None
    captures = [options.capture] if options.capture else []
    if program is not None:
        capture = reports / "workload.bin"
        flags = ["--native"] * options.native + ["--follow-fork"] * options.follow_fork
        try:
            session.run("memray", "run", *flags, "-q", "-f", "-o", str(capture), *program.command,
                        env=program_env(settings))  # fmt: skip
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
    if failed is not None and program is not None:
        session.error(
            f"{program.target} failed (exit code {failed.return_code}); reports of its capture:\n"
            f"{listing(written)}"
        )
    session.log(f"flamegraph reports:\n{listing(written)}")


def live(session: nox.Session, settings: Settings) -> None:
    require_memory_tools(session)
    require_terminal(session)
    options = parse(session, lambda words: parse_program_options("live", words))
    program = workload_program(session, settings, options)
    install(session, settings)
    flags = ["--native"] if options.native else []
    session.run("memray", "run", "--live", *flags, *program.command, env=program_env(settings))


def require_terminal(session: nox.Session) -> None:
    """Stop an interactive session at once where nobody can interact (CI, a pipe)."""
    if not (session.interactive and sys.stdout.isatty()):
        session.error(
            f"`{session.name}` is interactive and needs a terminal; none is attached (CI, a "
            "pipe or --non-interactive). Use `nox -s flamegraph` for a report instead"
        )


@dataclass
class Measurement:
    """One measuring run of the gate's figures."""

    figures: dict[str, int]
    sites: dict[str, int]
    stats: dict[str, Any]
    manifest: Manifest


def measure(session: nox.Session, settings: Settings, reports: Path) -> Measurement:
    """The gate's figures: the workload's peak and total allocated (and its bytes per call
    site), and each budgeted test's peak."""
    figures: dict[str, int] = {}
    stats: dict[str, Any] = {}
    if settings.workload:
        capture = reports / "workload.bin"
        session.run("memray", "run", "-q", "-f", "-o", str(capture), settings.workload,
                    env=program_env(settings), silent=True)  # fmt: skip
        stats_json = reports / "stats.json"
        session.run("memray", "stats", "--json", "-n", str(SITES), "-f", "-o", str(stats_json),
                    str(capture), silent=True)  # fmt: skip
        stats = json.loads(stats_json.read_text(encoding="utf-8"))
        figures.update(gate.workload_figures(stats))
    flags = memtest_flags(settings, reports, "gate")
    code = run_pytest(
        session, settings, *flags, "-m", "limit_memory or limit_leaks", "-p", "no:cacheprovider",
        "--hide-memray-summary", "-q",
    )  # fmt: skip
    manifest = read_manifest(session, reports, code)
    figures.update(gate.figures_of_tests(manifest))
    if not figures:
        session.error(
            "nothing to measure: name a workload ([tool.memwise] workload) or give tests a "
            'memory budget (@pytest.mark.limit_memory("64 MB")); see .memwise/README.md'
        )
    return Measurement(figures, gate.call_sites(stats, settings.root), stats, manifest)


def tolerance_of(settings: Settings) -> gate.Tolerance:
    return gate.Tolerance.from_settings(
        settings.gate_relative, settings.gate_absolute_mib, settings.gate_noise_factor
    )


def memgate(session: nox.Session, settings: Settings, python: str) -> None:
    started = time.perf_counter()
    install(session, settings)
    reports = fresh_folder(settings.root / settings.reports / "memgate")
    run = measure(session, settings, reports)
    path = settings.root / settings.baseline
    env = baseline.environment(python)
    write_measured(reports, path.name, env, run)
    records = baseline.read(path)
    record = records.get(env)
    if record is None:
        kept = keep_failing_captures(run.manifest, reports)
        if run.manifest.failed:
            session.error(failed_tests_message(session, run.manifest, kept, reports))
        found = ", ".join(sorted(records)) or "none"
        session.warn(
            f"{path.name} has no figures for this environment ({env}; it has: {found}), so "
            f"nothing to compare. Record them with `nox -s baseline` here (or copy "
            f"{reports / path.name} from a CI run of this environment) and commit the file."
        )
        return
    tolerance = tolerance_of(settings)
    comparisons = gate.compare(record.figures, record.noise, run.figures, tolerance)
    sites = gate.grown_sites(record.sites, run.sites)
    summary = reports / "summary.md"
    summary.write_text(gate_reports.summary_markdown(comparisons, tolerance, sites, env), "utf-8")
    page = reports / "report.html"
    page.write_text(gate_reports.report_html(f"Memory gate: {env}", comparisons, sites), "utf-8")
    for comparison in comparisons:
        session.log(comparison.describe())
    regressions = [c for c in comparisons if c.status == "REGRESSION"]
    regressed_tests = {c.name.removesuffix(" peak") for c in regressions}
    kept = keep_failing_captures(run.manifest, reports, also=regressed_tests)
    problems = []
    if run.manifest.failed:
        problems.append(failed_tests_message(session, run.manifest, kept, reports))
    if regressions:
        problems.append(regression_message(session, regressions, sites, kept, reports, path.name))
    elapsed = time.perf_counter() - started
    if problems:
        session.error("\n".join([*problems, f"summary: {summary}", f"report: {page}"]))
    session.log(
        f"memory gate passed on Python {python} in {elapsed:.1f} s ({tolerance}); summary: {summary}"
    )


def write_measured(reports: Path, name: str, env: str, run: Measurement) -> None:
    """This run's figures as a baseline file (copy it to accept them, e.g. from a CI
    artifact) and in the formats of Bencher and github-action-benchmark."""
    record = baseline.Record(run.figures, sites=run.sites)
    (reports / name).write_text(baseline.text({env: record}), encoding="utf-8")
    (reports / "bencher.json").write_text(gate_reports.bencher_metric_format(run.figures), "utf-8")
    action = gate_reports.benchmark_action_json(run.figures)
    (reports / "benchmark-action.json").write_text(action, encoding="utf-8")


def failed_tests_message(
    session: nox.Session, manifest: Manifest, kept: list[Path], reports: Path
) -> str:
    failed = {Path(test.capture).resolve() for test in manifest.failed if test.capture}
    pictures = [
        path
        for capture in kept
        if capture.resolve() in failed
        for path in flamegraphs(session, capture, reports / capture.stem)
    ]
    return (
        f"{len(manifest.failed)} test(s) failed their memory limit:\n"
        f"{listing([Path(test.nodeid) for test in manifest.failed])}\n"
        f"their flamegraphs:\n{listing(pictures)}"
    )


def regression_message(
    session: nox.Session,
    regressions: list[gate.Comparison],
    sites: list[gate.SiteChange],
    kept: list[Path],
    reports: Path,
    baseline_name: str,
) -> str:
    """What grew, where (call sites), and the flamegraphs of the regressed captures."""
    pictures = []
    workload = reports / "workload.bin"
    if workload.exists() and any(c.name.startswith("workload ") for c in regressions):
        pictures += flamegraphs(session, workload, reports / "workload")
    pictures += [
        path for capture in kept for path in flamegraphs(session, capture, reports / capture.stem)
    ]
    where = (
        "\nWhere the workload's allocations grew most (call site: baseline -> now):\n"
        + listing([Path(site.describe()) for site in sites])
        if sites
        else ""
    )
    return (
        f"memory regression: {len(regressions)} figure(s) above {baseline_name} + tolerance "
        "(set in [tool.memwise.gate] of pyproject.toml):\n"
        + listing([Path(c.describe()) for c in regressions])
        + where
        + (f"\nFlamegraphs:\n{listing(pictures)}" if pictures else "")
        + f"\nIf the growth is intended, record it with `nox -s baseline` and commit {baseline_name}."
    )


def baseline_session(session: nox.Session, settings: Settings, python: str) -> None:
    install(session, settings)
    runs: list[Measurement] = []
    for number in range(settings.gate_runs):
        session.log(f"measuring, run {number + 1} of {settings.gate_runs}")
        run = measure(
            session, settings, fresh_folder(settings.root / settings.reports / "baseline")
        )
        if run.manifest.failed:
            session.error(
                "tests failed their memory limits: fix them (`nox -s memtest`) before recording "
                "a baseline"
            )
        runs.append(run)
    figures, noise = gate.median_and_spread([run.figures for run in runs])
    sites, _ = gate.median_and_spread([run.sites for run in runs])
    path = settings.root / settings.baseline
    env = baseline.environment(python)
    baseline.write(path, env, baseline.Record(figures, noise, sites, runs=len(runs)))
    session.log(f"wrote the figures of {env} to {path} ({len(runs)} runs): review and commit it")


def memhistory(session: nox.Session, settings: Settings, python: str) -> None:
    path = settings.root / settings.baseline
    env = baseline.environment(python)
    log = subprocess.run(
        ["git", "log", "--reverse", "--format=%h %ad", "--date=short", "--", path.name],
        cwd=settings.root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if log.returncode != 0:
        session.error(f"git could not read the history of {path.name}: {log.stderr.strip()}")
    history = []
    for line in log.stdout.splitlines():
        commit, date = line.split(" ", 1)
        shown = subprocess.run(["git", "show", f"{commit}:{path.name}"], cwd=settings.root,
                               capture_output=True, text=True, check=False)  # fmt: skip
        if shown.returncode == 0:
            history.append(
                (commit, date, gate_reports.figures_from_any(tomllib.loads(shown.stdout), env))
            )
    if not history:
        session.error(f"{path.name} has no committed history yet: commit it, then run again")
    reports = fresh_folder(settings.root / settings.reports / "memhistory")
    page = reports / "history.html"
    page.write_text(gate_reports.history_html(env, history), encoding="utf-8")
    latest = history[-1][2]
    (reports / "bencher.json").write_text(gate_reports.bencher_metric_format(latest), "utf-8")
    (reports / "benchmark-action.json").write_text(
        gate_reports.benchmark_action_json(latest), "utf-8"
    )
    session.log(f"history of {len(history)} version(s) of {path.name} ({env}):\n{listing([page])}")


def memdiff(session: nox.Session, settings: Settings, python: str) -> None:
    """Measure a git ref (in a temporary worktree) and the working tree on this machine, and
    print the gate's comparison of the two: figures, and where the workload's memory grew."""
    if len(session.posargs) != 1 or session.posargs[0].startswith("-"):
        session.error("give one git ref to compare the working tree with: `nox -s memdiff -- main`")
    ref = session.posargs[0]
    reports = fresh_folder(settings.root / settings.reports / "memdiff")
    worktree = reports / "worktree"
    added = subprocess.run(
        ["git", "worktree", "add", "--detach", "--force", str(worktree), ref],
        cwd=settings.root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if added.returncode != 0:
        session.error(f"git could not check out {ref!r}: {added.stderr.strip()}")
    try:
        ref_settings = load(worktree)
        with session.chdir(worktree):
            install(session, ref_settings)
            before = measure(session, ref_settings, fresh_folder(reports / "ref"))
    except SettingsError as error:
        session.error(f"{ref}: {error}")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)],
                       cwd=settings.root, capture_output=True, check=False)  # fmt: skip
    install(session, settings)
    after = measure(session, settings, fresh_folder(reports / "now"))
    tolerance = tolerance_of(settings)
    comparisons = gate.compare(before.figures, {}, after.figures, tolerance)
    sites = gate.grown_sites(before.sites, after.sites)
    title = f"{ref} -> working tree"
    page = reports / "memdiff.html"
    page.write_text(gate_reports.report_html(f"Memory: {title}", comparisons, sites), "utf-8")
    summary = reports / "summary.md"
    summary.write_text(
        gate_reports.summary_markdown(comparisons, tolerance, sites, f"{title}, Python {python}"),
        encoding="utf-8",
    )
    for comparison in comparisons:
        session.log(comparison.describe())
    if sites:
        session.log(
            "where the workload's allocations grew most (call site: ref -> now):\n"
            + listing([Path(site.describe()) for site in sites])
        )
    grown = [c for c in comparisons if c.status == "REGRESSION"]
    session.log(f"{len(grown)} figure(s) above the gate's tolerance; report: {page}")
