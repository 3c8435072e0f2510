"""`nox -s drift`: has a memwise-owned file been edited since the release the project records?

`copier update` replays only the template's own changes, so a memwise file edited by hand stays
edited while the answers file says the project is current. The check renders memwise again at
the recorded release with the recorded answers (``copier recopy --vcs-ref=:current:``, into a
temporary folder holding only the answers file) and compares the files memwise owns with the
project's: each that differs is named with a short diff, and the session fails.
"""

from __future__ import annotations

import difflib
import shutil
import subprocess
import tempfile
from pathlib import Path

import nox

from memwise.project.answers import ANSWERS, answers_file, recorded_source
from memwise.project.options import parse, parse_no_options
from memwise.project.settings import Settings

# What memwise owns in a project (its answers file aside: copier rewrites it).
OWNED = (".memwise", ".github/workflows/memory.yml", ".gitlab/memwise.yml")
DIFF_LINES = 12
DRIFT_HELP = """usage: nox -s drift

Render memwise again at the release the answers file records, with its answers, and compare
the files memwise owns (.memwise/, the memory workflow) with this project's. Fails naming each
file that differs. Needs the template source recorded in the answers file (_src_path): a local
path, or a git URL it can reach."""


def owned_files(root: Path) -> dict[str, Path]:
    """Relative name -> path of each memwise-owned file under ``root`` (caches and builds aside)."""
    found: dict[str, Path] = {}
    for owned in OWNED:
        path = root / owned
        candidates = sorted(path.rglob("*")) if path.is_dir() else [path]
        for candidate in candidates:
            relative = candidate.relative_to(root)
            if candidate.is_file() and not any(
                _generated(part) for part in relative.parts
            ):
                found[relative.as_posix()] = candidate
    return found


def _generated(part: str) -> bool:
    return (
        part in {"__pycache__", "build", "dist"}
        or part.endswith(("_cache", ".egg-info"))
        or part.startswith(".memwise-")
    )


def differences(project: Path, rendered: Path) -> list[str]:
    """One entry per owned file that differs: its name and a short unified diff."""
    mine, theirs = owned_files(project), owned_files(rendered)
    found = []
    for name in sorted(set(mine) | set(theirs)):
        if name not in mine:
            found.append(f"{name}: deleted here (memwise's release has it)")
        elif name not in theirs:
            found.append(f"{name}: added here (memwise's release has no such file)")
        else:
            before = theirs[name].read_text(encoding="utf-8", errors="replace")
            after = mine[name].read_text(encoding="utf-8", errors="replace")
            if before != after:
                diff = list(
                    difflib.unified_diff(
                        before.splitlines(),
                        after.splitlines(),
                        "release",
                        "here",
                        lineterm="",
                    )
                )
                shown = diff[:DIFF_LINES] + (["..."] if len(diff) > DIFF_LINES else [])
                found.append(
                    f"{name}: edited here\n"
                    + "\n".join(f"    {line}" for line in shown)
                )
    return found


def drift(session: nox.Session, settings: Settings) -> None:
    parse(session, lambda words: parse_no_options("drift", DRIFT_HELP, words))
    answers = answers_file(settings.root)
    if answers is None:
        session.error(
            f"no copier answers file ({' or '.join(ANSWERS)}) in {settings.root}: the drift "
            "check needs the release and answers memwise was rendered with"
        )
    source = recorded_source(answers)
    session.install("copier>=9.4")
    with tempfile.TemporaryDirectory(prefix="memwise-drift-") as folder:
        rendered = Path(folder)
        shutil.copy2(answers, rendered / answers.name)
        result = subprocess.run(
            [str(Path(session.bin) / "copier"), "recopy", "--force", "--quiet",
             "--vcs-ref=:current:", "-a", answers.name, str(rendered)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
            session.error(
                f"memwise could not be rendered again from "
                f"{source or 'its recorded source'} at the release "
                f"{answers.name} records ({reason}). The drift check needs that source: a "
                "local path, or a git URL this machine can reach."
            )
        found = differences(settings.root, rendered)
    if found:
        session.error(
            f"{len(found)} memwise-owned file(s) differ from the release {answers.name} "
            "records:\n"
            + "\n".join(found)
            + "\nMove each change into memwise (an issue or a pull request to the "
            "template), or undo it here (the diff shows what): the next `copier update` "
            "would keep it. What a project may change goes in [tool.memwise] of "
            "pyproject.toml."
        )
    session.log(
        f"no drift: every memwise-owned file matches the release {answers.name} records"
    )
