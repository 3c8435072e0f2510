"""The work behind memwise's memory sessions of the tests and the workload: memtest,
profile, profile_view, flamegraph and live (the gate's are in ``memwise.sessions.gate_sessions``;
``memwise.nox_sessions`` declares them all). Messages say what went wrong and what to do,
never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import nox

from memwise.gate.capture_peak import AGGREGATED
from memwise.gate.measuring import MEASURING_ENV
from memwise.plugin.shards import ShardError, take_shard_option
from memwise.project.options import (
    Options,
    Program,
    parse,
    parse_profile_options,
    parse_program_options,
)
from memwise.project.profile_scope import exclusion_args
from memwise.project.settings import Settings
from memwise.report_names import JUNIT, SUMMARY, WORKLOAD_CAPTURE
from memwise.running.environment import install, program_env, require_terminal
from memwise.running.pytest_runs import (
    exit_code,
    keep_failing_captures,
    measure_again,
    measure_forks,
    memtest_flags,
    missing_tools_hint,
    note_children,
    note_unmeasured,
    read_manifest,
    run_pytest,
    workers,
)
from memwise.running.report_files import (
    capture_summary,
    flamegraphs,
    fresh_folder,
    listing,
    peak_summary,
    scalene_top_lines,
)
from memwise.views.budget_failures import failures_message


def memtest(session: nox.Session, settings: Settings) -> None:
    if session.posargs[:1] in (["--help"], ["-h"]):
        print(MEMTEST_USAGE)
        session.skip("usage shown")
    try:
        shard, pytest_args = take_shard_option(list(session.posargs))
    except ShardError as error:
        session.error(str(error))
    install(session, settings)
    reports = fresh_folder(session, settings.root / settings.reports / "memtest")
    # One Tracker for the run (one in each pytest-xdist worker), not one per test.
    flags = memtest_flags(settings, reports, "memtest", one_tracker=True)
    if shard is not None:
        flags.append(f"--memwise-shard={shard}")
    junit = reports / JUNIT
    summary = ["--most-allocations=5", "--stacks=8", f"--junitxml={junit}"]
    code = run_pytest(
        session, settings, *flags, *workers(settings), *summary, *pytest_args
    )
    manifest = measure_again(
        session, settings, reports, read_manifest(session, settings, reports, code)
    )
    manifest = measure_forks(session, settings, reports, manifest)
    note_unmeasured(session, manifest)
    note_children(session, manifest)
    kept = keep_failing_captures(manifest, reports)
    if manifest.failed:
        hint = (
            f"\nThis run used pytest-xdist workers ([tool.memwise] workers = "
            f'"{settings.workers}"). If these tests pass in one process (`nox -s memtest -- '
            "-n 0`), they share something across workers (a database file, a port): set "
            'workers = "off".'
            if workers(settings) and manifest.failed_otherwise
            else ""
        )
        hint += missing_tools_hint(settings, junit)
        session.error(failures_message(session, manifest, kept, reports, shard) + hint)
    said = (
        f"memtest{f' shard {shard}' if shard else ''} passed on Python {manifest.python}: "
        f"{len(manifest.measured)} of "
        f"{len(manifest.ran)} tests measured"
        + (
            f" ({len(manifest.tests) - len(manifest.ran)} skipped)"
            if manifest.ran != manifest.tests
            else ""
        )
    )
    # A summary on green too: CI's pull-request comment then replaces a red one.
    (reports / SUMMARY).write_text(f"## ✅ {said}\n", encoding="utf-8")
    session.log(f"{said}; JUnit report: {junit}")


MEMTEST_USAGE = """\
usage: nox -s memtest -- [pytest arguments]

Run the project's tests under pytest-memray, on the memory Python: every test with a memory
marker is held to it (limit_memory, limit_leaks, limit_leaked_objects), every other test to
[tool.memwise] default-limit. Arguments after `--` go to pytest as they are, e.g.
  nox -s memtest -- -k cache -x
  nox -s memtest -- tests/test_store.py
  nox -s memtest -- --shard 2/3      (the 2nd of 3 groups; `nox -s memreport` merges them)
The session fails, naming what happened, when a test goes over its budget, when a test fails
otherwise, when pytest cannot collect or import the tests, and when tests run unmeasured
([tool.memwise] allow-unmeasured names those that may). Reports: reports/memtest/ (JUnit, the
run's manifest, flamegraphs of each failing test's capture). Settings: .memwise/README.md."""


def workload_program(
    session: nox.Session, settings: Settings, options: Options
) -> Program:
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
        session.error(
            f"No such program: {program.target} (give a Python file or `-m module`)"
        )
    return program


def _run_scalene(
    session: nox.Session, command: list[str], env: dict[str, str | None], target: str
) -> nox.command.CommandFailed | None:
    """Run scalene; its failure is returned when it saved a profile (shown, then failed)."""
    try:
        session.run(*command, env=env)
    except nox.command.CommandFailed as error:
        if not Path(command[command.index("-o") + 1]).exists():
            session.error(f"{target} failed (exit code {exit_code(error)}); no profile")
        return error
    return None


def profile(session: nox.Session, settings: Settings) -> None:
    options = parse(session, parse_profile_options)
    program = workload_program(session, settings, options)
    install(session, settings, profile=True)
    reports = fresh_folder(session, settings.root / settings.reports / "profile")
    profile_json = reports / "profile.json"
    chosen = [*settings.profile_args, *options.tool_args]
    templates = exclusion_args(settings.root, settings.package, chosen)
    scalene = [
        "scalene", "run", "-o", str(profile_json), "--no-async",
        f"--program-path={settings.root}", *templates,
    ]  # fmt: skip
    program_args = [program.target, *(["---", *program.args] if program.args else [])]
    env = program_env(settings, session)
    failed = _run_scalene(
        session, [*scalene, *chosen, *program_args], env, program.target
    )
    if not profile_json.exists() and templates and "--cpu-only" not in chosen:
        # scalene 2.4 cannot write a memory profile once a template's compiled code allocated
        # (docs/decisions/0003): a CPU profile without the templates is what it can give.
        session.warn(
            "scalene wrote no profile: it read one of the package's templates "
            f"({templates[1]}) as Python source. Profiling again, CPU time only; for memory, "
            "`nox -s flamegraph` (memray) sees templates' code."
        )
        failed = _run_scalene(
            session,
            [*scalene, "--cpu-only", *chosen, *program_args],
            env,
            program.target,
        )
    if not profile_json.exists():  # scalene 2.4 can exit 0 having written nothing
        session.error(
            f"scalene ran {program.target} and wrote no profile ({profile_json}); its own "
            "message is above. scalene 2.4 does this when code compiled from a file that is "
            "not Python (a template) allocated memory, or when the program ran too briefly "
            "to be sampled. Give the workload more work, or profile CPU time only, leaving "
            'such files out: `profile-args = ["--cpu-only", "--profile-exclude", ".jinja"]` '
            "in [tool.memwise] (their suffixes, comma-separated); `nox -s flamegraph` shows "
            "memory"
        )
    with session.chdir(reports):
        # scalene 2.x writes scalene-profile.html into the current directory.
        session.run("scalene", "view", "--standalone", profile_json.name)
    html = reports / "profile.html"
    (reports / "scalene-profile.html").replace(html)
    print(scalene_top_lines(json.loads(profile_json.read_text(encoding="utf-8"))))
    paths = listing([profile_json, html])
    if failed is not None:
        session.error(
            f"{program.target} failed (exit code {exit_code(failed)}); its partial profile:\n{paths}"
        )
    session.log(f"profile reports:\n{paths}\n{SCALENE_PAGE_NOTE}")


# Said once per profile: scalene's page asks a local Ollama server for its models when opened,
# and scalene has no switch to stop it (tests/test_sessions.py checks it asks nothing else).
SCALENE_PAGE_NOTE = (
    "profile.html opens offline; when opened, scalene's page asks http://localhost:11434 (a "
    "local Ollama server, for its AI suggestions) which models it has. That request stays on "
    "this machine and fails harmlessly where no such server runs; scalene has no option to "
    "turn it off."
)


def profile_view(session: nox.Session, settings: Settings) -> None:
    require_terminal(session)
    profile_json = settings.root / settings.reports / "profile" / "profile.json"
    if not profile_json.exists():
        session.error(f"No profile at {profile_json}: run `nox -s profile` first")
    install(session, settings, profile=True)
    # API keys (OPENAI_API_KEY, ANTHROPIC_API_KEY ...) come from your environment and stay in
    # the local browser session; the view works without them.
    session.run("scalene", "view", "--api-keys-from-env", str(profile_json))


def flamegraph(session: nox.Session, settings: Settings) -> None:
    options = parse(session, lambda words: parse_program_options("flamegraph", words))
    program = None if options.capture else workload_program(session, settings, options)
    install(session, settings)
    reports = fresh_folder(session, settings.root / settings.reports / "flamegraph")
    failed = None
    captures = [options.capture] if options.capture else []
    # Aggregated unless asked otherwise: the allocations alive at the peak and at exit, all
    # that the two flamegraphs draw, in a capture a hundredth the size, drawn in half a second
    # where reading every allocation again took seconds per report. memray writes it when
    # the process exits normally, which a forked worker never does (it ends in os._exit).
    aggregated = not (options.all_allocations or options.follow_fork)
    if program is not None:
        capture = reports / WORKLOAD_CAPTURE
        flags = ["--native"] * options.native + ["--follow-fork"] * options.follow_fork
        flags += ["--aggregate"] * aggregated
        try:
            # The gate's allocator: memray then sees every object (its leaks view needs that,
            # and warns otherwise), and this peak is the gate's "workload peak".
            env = {**program_env(settings, session), **MEASURING_ENV}
            session.run("memray", "run", *flags, "-q", "-f", "-o", str(capture), *program.command,
                        env=env)  # fmt: skip
        except nox.command.CommandFailed as error:
            failed = (
                error  # memray still wrote the capture: report what it holds, then fail
            )
            if not capture.exists():
                raise
        # With --follow-fork, each forked process writes <capture>.<pid> beside it.
        captures = [capture, *sorted(reports.glob(f"{capture.name}.*"))]
    written = []
    for capture in captures:
        # The first capture gets plain names; a forked worker's <capture>.<pid> adds "-<pid>".
        tag = "" if capture == captures[0] else f"-{capture.name.rsplit('.', 1)[1]}"
        # memray stats reads only captures of every allocation; an aggregated one is summed
        # up from its peak by memwise.gate.capture_peak, which also says which a given capture is.
        peak = reports / f"peak{tag}.json"
        peak_command = [
            "python",
            "-m",
            "memwise.gate.capture_peak",
            str(capture),
            str(peak),
        ]
        if program is None:
            session.run(*peak_command, silent=True)
            data = json.loads(peak.read_text(encoding="utf-8"))
            every_allocation = data["format"] != AGGREGATED
        else:
            every_allocation = not aggregated
        summary, also = peak, [] if program is None else [peak_command]
        if every_allocation:
            peak.unlink(missing_ok=True)
            summary = reports / f"stats{tag}.json"
            also = [
                ["memray", "stats", "--json", "-f", "-o", str(summary), str(capture)]
            ]
        try:
            pages = flamegraphs(
                session, capture, reports / f"flamegraph{tag}", also=also
            )
        except nox.command.CommandFailed:
            if every_allocation:
                raise
            session.error(UNWRITTEN_AGGREGATE.format(capture=capture))
        written += [*pages, summary, capture]
        if capture == captures[0]:  # the program's own process: its summary is printed
            data = json.loads(summary.read_text(encoding="utf-8"))
            print(capture_summary(data) if every_allocation else peak_summary(data))
    if failed is not None and program is not None:
        session.error(
            f"{program.target} failed (exit code {exit_code(failed)}); reports of its capture:\n"
            f"{listing(written)}"
        )
    session.log(f"flamegraph reports:\n{listing(written)}")


UNWRITTEN_AGGREGATE = (
    "memray could not read {capture} (its error is above). The session records memray's "
    "aggregated format, which memray writes when the program exits: a program that ended "
    "with os._exit(), a signal or an out-of-memory kill leaves an unreadable capture. Record "
    "it with `nox -s flamegraph -- --all-allocations [program]`: every allocation is written "
    "as it happens (a larger capture, slower reports)."
)


def live(session: nox.Session, settings: Settings) -> None:
    require_terminal(session)
    options = parse(session, lambda words: parse_program_options("live", words))
    program = workload_program(session, settings, options)
    install(session, settings)
    flags = ["--native"] if options.native else []
    session.run(
        "memray",
        "run",
        "--live",
        *flags,
        *program.command,
        env=program_env(settings, session),
    )
