"""`nox -s memreport -- FOLDER...`: one verdict from the report folders of memtest's shards."""

from __future__ import annotations

from pathlib import Path

import nox

from memwise.manifest import MANIFEST_NAME, Manifest
from memwise.reports import fresh_folder
from memwise.settings import Settings
from memwise.shards import SHARD_FILE, ShardError, ShardRecord, merge
from memwise.sizes import MIB

USAGE = (
    "usage: nox -s memreport -- FOLDER...  (the reports/memtest folders of the runs of "
    "`nox -s memtest -- --shard K/N`, one per shard)"
)


def memreport(session: nox.Session, settings: Settings) -> None:
    if not session.posargs or session.posargs[0] in ("--help", "-h"):
        session.error(USAGE)
    shards: list[tuple[Path, ShardRecord]] = []
    manifests: dict[int, Manifest] = {}
    for folder in map(Path, session.posargs):
        try:
            record = ShardRecord.read(folder / SHARD_FILE)
            manifest = Manifest.read(folder / MANIFEST_NAME)
        except ShardError as error:
            session.error(str(error))
        except (OSError, ValueError, KeyError, TypeError) as error:
            session.error(f"{folder}: no manifest memwise wrote ({error}); {USAGE}")
        shards.append((folder, record))
        manifests[record.shard.index] = manifest
    merged = merge(shards)
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
    reports = fresh_folder(session, settings.root / settings.reports / "memreport")
    (reports / "summary.md").write_text(summary + "\n", encoding="utf-8")
    if red:
        session.error(f"{headline}:\n" + "\n".join(f"  {line}" for line in red))
    session.log(f"{headline}; summary: {reports / 'summary.md'}")
