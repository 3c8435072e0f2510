"""`nox -s check_update`: is a newer memwise release out than the one the project records?

It asks copier (``copier check-update``, copier 9.13 and later) with the project's answers
file. A newer release is reported, not failed: updating is the team's decision. On GitHub
Actions the report also goes to the job's summary, where the run's page shows it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import nox

from memwise.project.answers import ANSWERS, answers_file, recorded_source
from memwise.project.options import parse, parse_no_options
from memwise.project.settings import Settings

CHECK_UPDATE_HELP = """usage: nox -s check_update

Say whether a newer memwise release than the one the answers file records is out (copier
check-update): its version, and the command that brings it. Needs memwise's source recorded in
the answers file (_src_path) to be a git repository with release tags this machine can reach."""


def update_command(answers: Path) -> str:
    """The `copier update` that brings the new release to this project."""
    named = "" if answers.name == ".copier-answers.yml" else f" -a {answers.name}"
    return f"copier update --defaults{named}"


def read_report(text: str) -> tuple[str, str, bool] | None:
    """copier check-update's JSON: (current, latest, newer), or None when it is not that."""
    try:
        report = json.loads(text)
    except ValueError:
        return None
    keys = ("current_version", "latest_version", "update_available")
    if not isinstance(report, dict) or any(key not in report for key in keys):
        return None
    return (
        str(report["current_version"]),
        str(report["latest_version"]),
        bool(report["update_available"]),
    )


def untagged(current: str, latest: str, said: str) -> bool:
    """Whether copier compared commits of a source without release tags: it then numbers
    HEAD ``0.0.0.postN.devM+<commit>`` and reports no update, whatever HEAD holds."""
    return "No git tags found" in said or any(
        version.startswith("0.0.0.post") for version in (current, latest)
    )


def check_update(session: nox.Session, settings: Settings) -> None:
    parse(
        session,
        lambda words: parse_no_options("check_update", CHECK_UPDATE_HELP, words),
    )
    answers = answers_file(settings.root)
    if answers is None:
        session.error(
            f"no copier answers file ({' or '.join(ANSWERS)}) in {settings.root}: it records "
            "the memwise release to compare with"
        )
    session.install("copier>=9.13")
    result = subprocess.run(
        [str(Path(session.bin) / "copier"), "check-update", "--output-format", "json",
         "-a", answers.name, str(settings.root)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    report = read_report(result.stdout)
    if report is None:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        session.error(
            f"copier could not say whether a newer memwise is out ({reason}). It needs the "
            f"source {answers.name} records ({recorded_source(answers) or 'none'}) to be a "
            "git repository with release tags that this machine can reach."
        )
    current, latest, newer = report
    if untagged(current, latest, result.stderr):
        session.error(
            f"the memwise source {answers.name} records ({recorded_source(answers) or 'none'}) "
            "has no release tags: copier compares releases, which are git tags, so it cannot "
            f"say whether a newer one is out (it reads the source's HEAD as {latest}). Point "
            "_src_path at memwise's released repository, or tag a release there"
        )
    if newer:
        message = (
            f"memwise {latest} is out; this project is at {current}. "
            f"`{update_command(answers)}` brings it (the CHANGELOG says what changed)."
        )
    else:
        message = f"memwise {current} is the newest release: nothing to update."
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with Path(summary).open("a", encoding="utf-8") as page:
            page.write(f"{message}\n")
    if newer and os.environ.get("GITHUB_ACTIONS") == "true":
        print(f"::notice title=memwise update::{message}", flush=True)
    session.log(message)
