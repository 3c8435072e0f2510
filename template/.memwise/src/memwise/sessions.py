"""The work behind memwise's memory sessions of the tests and the workload: memtest,
profile, profile_view, flamegraph and live (the gate's are in ``memwise.gate_sessions``;
``memwise.nox_sessions`` declares them all). Messages say what went wrong and what to do,
never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import nox

from memwise.environment import install, program_env, require_terminal
from memwise.options import (
    HelpShown,
    Options,
    OptionsError,
    Program,
    parse_profile_options,
    parse_program_options,
)
from memwise.pytest_runs import (
    keep_failing_captures,
    memtest_flags,
    read_manifest,
    run_pytest,
    warn_unmeasured,
    workers,
)
from memwise.reports import flamegraphs, fresh_folder, listing, scalene_top_lines
from memwise.settings import Settings

Parsed = TypeVar("Parsed")


def memtest(session: nox.Session, settings: Settings) -> None:
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


def parse(session: nox.Session, parser: Callable[[list[str]], Parsed]) -> Parsed:
    """Run an options parser on the session's arguments; --help ends the session there."""
    try:
        options = parser(list(session.posargs))
    except HelpShown:
        session.skip("options shown")
    except OptionsError as error:
        session.error(str(error))
    return options


def profile(session: nox.Session, settings: Settings) -> None:
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
    require_terminal(session)
    options = parse(session, lambda words: parse_program_options("live", words))
    program = workload_program(session, settings, options)
    install(session, settings)
    flags = ["--native"] if options.native else []
    session.run("memray", "run", "--live", *flags, *program.command, env=program_env(settings))
