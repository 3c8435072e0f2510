"""`nox -s memreport -- FOLDER...`: one verdict from the report folders of memtest's shards,
or of memgate's (`nox -s memgate -- --shard K/N`)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import nox

from memwise.plugin.manifest import Manifest
from memwise.plugin.shards import ShardError, ShardRecord, merge
from memwise.project.settings import Settings
from memwise.report_names import GATE_VERDICT, MANIFEST, SHARD, SUMMARY
from memwise.running.report_files import fresh_folder
from memwise.sizes import MIB

USAGE = (
    "usage: nox -s memreport -- FOLDER...  (the reports/memtest folders of the runs of "
    "`nox -s memtest -- --shard K/N`, one per shard, or the reports/memgate folders of "
    "`nox -s memgate -- --shard K/N`)"
)


def memreport(session: nox.Session, settings: Settings) -> None:
    if not session.posargs or session.posargs[0] in ("--help", "-h"):
        session.error(USAGE)
    shards: list[tuple[Path, ShardRecord]] = []
    folders: dict[int, Path] = {}
    manifests: dict[int, Manifest] = {}
    gates: dict[int, dict[str, Any]] = {}
    for folder in map(Path, session.posargs):
        try:
            record = ShardRecord.read(folder / SHARD)
            manifest = Manifest.read(folder / MANIFEST)
            if (folder / GATE_VERDICT).is_file():
                gates[record.shard.index] = {
                    **json.loads((folder / GATE_VERDICT).read_text(encoding="utf-8")),
                    "folder": folder,
                }
        except ShardError as error:
            session.error(str(error))
        except (OSError, ValueError, KeyError, TypeError) as error:
            session.error(f"{folder}: no manifest memwise wrote ({error}); {USAGE}")
        shards.append((folder, record))
        folders[record.shard.index] = folder
        manifests[record.shard.index] = manifest
    if gates and len(gates) != len(shards):
        session.error(
            "give the report folders of one session's shards: memtest's or memgate's, not both"
        )
    merged = merge(shards)
    if gates:
        gate_report(session, settings, merged.problems, merged.count, gates)
        return
    failures = [
        f"shard {index}/{merged.count}: {test.nodeid}: "
        + (
            f"over its budget (limit {test.limit}, peak {(test.peak_bytes or 0) / MIB:.2f} MiB)"
            if test.failure == "memory"
            else "failed"
        )
        for index, manifest in sorted(manifests.items())
        for test in manifest.failed
    ]
    failures += [
        f"shard {index}/{merged.count}: pytest could not run its tests ({problem.message})"
        for index, manifest in sorted(manifests.items())
        for problem in manifest.problems
    ]
    failures += [
        f"shard {index}/{merged.count}: pytest ended with exit code {manifest.exit_status}"
        for index, manifest in sorted(manifests.items())
        if manifest.exit_status not in (0, 5)
        and not manifest.failed
        and not manifest.problems
    ]
    red = merged.problems + failures
    headline = f"memtest in {merged.count} shard(s): {merged.tests} tests" + (
        f", {len(red)} problem(s)" if red else ", every shard green"
    )
    summary = f"## {'❌' if red else '✅'} {headline}\n" + "".join(
        f"\n- {line}" for line in red
    )
    # Each red shard's own summary below the list: its table of tests over their budget
    # names the line that held the most, as an unsplit memtest's does.
    red_shards = {
        index: _summary_of(folders[index])
        for index, manifest in manifests.items()
        if manifest.failed or manifest.problems or manifest.exit_status not in (0, 5)
    }
    reports = fresh_folder(session, settings.root / settings.reports / "memreport")
    (reports / SUMMARY).write_text(
        summary + shard_details(red_shards, merged.count) + "\n", encoding="utf-8"
    )
    if red:
        session.error(f"{headline}:\n" + "\n".join(f"  {line}" for line in red))
    session.log(f"{headline}; summary: {reports / SUMMARY}")


def gate_report(
    session: nox.Session,
    settings: Settings,
    problems: list[str],
    count: int,
    gates: dict[int, dict[str, Any]],
) -> None:
    """memgate's shards: red when a shard's gate failed (its summary follows), when a figure
    was compared in two shards, or when the shards do not add up (``memwise.plugin.shards.merge``).
    """
    red = list(problems)
    compared: dict[str, int] = {}
    red_summaries: dict[int, str] = {}
    for index, verdict in sorted(gates.items()):
        if not verdict.get("passed"):
            text = _summary_of(Path(verdict["folder"]))
            red_summaries[index] = text
            first = text.splitlines()[0].lstrip("#❌ ").strip() if text else "red"
            red.append(f"shard {index}/{count}: {first}")
        for name in verdict.get("figures", []):
            if name in compared:
                red.append(
                    f"{name} was compared in shards {compared[name]} and {index}"
                )
            compared[name] = index
    headline = f"memgate in {count} shard(s): {len(compared)} figure(s) compared" + (
        f", {len(red)} problem(s)" if red else ", every shard green"
    )
    details = shard_details(red_summaries, count)
    summary = f"## {'❌' if red else '✅'} {headline}\n" + "".join(
        f"\n- {line}" for line in red
    )
    reports = fresh_folder(session, settings.root / settings.reports / "memreport")
    (reports / SUMMARY).write_text(summary + details + "\n", encoding="utf-8")
    if red:
        session.error(f"{headline}:\n" + "\n".join(f"  {line}" for line in red))
    session.log(f"{headline}; summary: {reports / SUMMARY}")


def _summary_of(folder: Path) -> str:
    found = folder / SUMMARY
    return found.read_text(encoding="utf-8") if found.is_file() else ""


def shard_details(summaries: dict[int, str], count: int) -> str:
    """Each red shard's own summary under a heading of its own, its headings two levels down
    (a shard's "## ❌ ..." would otherwise stand above the "### shard K/N" it belongs to).
    """
    return "".join(
        f"\n\n### shard {index}/{count}\n\n{demoted(text).strip()}"
        for index, text in sorted(summaries.items())
        if text.strip()
    )


def demoted(markdown: str) -> str:
    """Every Markdown heading two levels lower."""
    return re.sub(r"^(#+ )", r"##\1", markdown, flags=re.MULTILINE)
