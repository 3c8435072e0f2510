"""Measuring the gate's figures once: the workload's peak and total allocated (and its bytes
per call site) under memray, and each budgeted test's peak under pytest-memray. memgate,
baseline and memdiff all measure through here, so their figures compare.
"""

from __future__ import annotations

import json
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nox

from memwise.gate import rules
from memwise.plugin.manifest import Manifest
from memwise.plugin.shards import Shard
from memwise.project.settings import Settings
from memwise.report_names import WORKLOAD_CAPTURE, WORKLOAD_STATS
from memwise.running import shared_env
from memwise.running.environment import bytecode_env, compile_bytecode, program_env
from memwise.running.pytest_runs import memtest_flags, read_manifest, run_pytest

SITES = 30  # call sites of the workload kept per baseline (memray stats -n)


@dataclass
class Measurement:
    """One measuring run of the gate's figures."""

    figures: dict[str, int]
    sites: dict[str, int]
    stats: dict[str, Any]
    manifest: Manifest
    site_lines: dict[str, str] = field(
        default_factory=dict
    )  # site -> site with its line


# Every measuring run uses the C allocator: memray then sees each object, where pymalloc hands
# out 1 MiB arenas and a peak moves by a whole arena between runs of unchanged code.
# A fixed hash seed too: sets and dicts of strings then grow and collide the same way each run.
MEASURING_ENV = {"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0"}


def measure(
    session: nox.Session,
    settings: Settings,
    reports: Path,
    *,
    compiled: bool = False,
    shard: Shard | None = None,
) -> Measurement:
    """The gate's figures: the workload's peak and total allocated (and its bytes per call
    site), and each budgeted test's peak. ``compiled``: this session wrote the bytecode for
    an earlier run of the same code (baseline's runs after its first), so it is current.
    ``shard``: only its group of the budgeted tests (``memwise.plugin.shards``), and the workload
    with the first group."""
    with ThreadPoolExecutor(max_workers=1) as reader:
        return measure_in_turn(
            session, settings, reports, reader, compiled=compiled, shard=shard
        ).result()


@dataclass
class MeasuringRun:
    """A measuring run whose tests are done and whose workload capture is being read back."""

    manifest: Manifest
    reading: Future[Measurement]

    def result(self) -> Measurement:
        return self.reading.result()


def measure_in_turn(
    session: nox.Session,
    settings: Settings,
    reports: Path,
    reader: Executor,
    *,
    compiled: bool = False,
    shard: Shard | None = None,
) -> MeasuringRun:
    """One measuring run; ``reader`` reads its workload's capture back (``memray stats``)
    while the caller goes on, so a baseline's next run measures meanwhile.

    Reading a capture back takes about as long as recording it (a workload of 25 million
    allocations: docs/benchmarks.md, "The gate's fixed costs"), and the figures are bytes,
    which another process beside them does not change. The workload is recorded beside the tests: two processes
    whose allocations do not depend on each other.
    """
    if not compiled:
        compile_bytecode(session, settings)
    env = {**program_env(settings), **MEASURING_ENV, **bytecode_env(session)}
    capture = reports / WORKLOAD_CAPTURE
    measures_workload = settings.workload and (shard is None or shard.index == 1)
    with ThreadPoolExecutor(max_workers=1) as beside:
        recording = (
            beside.submit(record_workload, session, settings, capture, env)
            if measures_workload
            else None
        )
        flags = memtest_flags(settings, reports, "gate")
        if shard is not None:
            flags.append(f"--memwise-shard={shard}")
        code = run_pytest(
            # pytest's cache inside the reports: the project's .pytest_cache stays as it was
            # (and pytest-memray before 1.11 fails every limit_memory test without a cache
            # plugin).
            session, settings, *flags, "-m", "limit_memory or limit_leaks",
            "-o", f"cache_dir={reports / '.pytest_cache'}",
            "--hide-memray-summary", "-q", env=env,
        )  # fmt: skip
        if recording is not None:
            recording.result()
    manifest = read_manifest(session, settings, reports, code, may_select_none=True)
    # A later shard's group may hold no budgeted test: the shards' figures add up.
    if recording is None and not rules.figures_of_tests(manifest) and shard is None:
        # Said here, at once: not after a baseline's other runs measured nothing as well.
        session.error(
            "nothing to measure: name a workload ([tool.memwise] workload) or give tests a "
            'memory budget (@pytest.mark.limit_memory("64 MB")); see .memwise/README.md'
        )
    workload = capture if recording is not None else None
    return MeasuringRun(
        manifest, reader.submit(figures_of_run, session, settings, manifest, workload)
    )


def figures_of_run(
    session: nox.Session, settings: Settings, manifest: Manifest, workload: Path | None
) -> Measurement:
    """The run's figures, its workload's capture read back by ``memray stats``."""
    stats = read_workload(session, workload) if workload is not None else {}
    figures: dict[str, int] = {}
    if stats:
        figures.update(rules.workload_figures(stats))
    figures.update(rules.figures_of_tests(manifest))
    return Measurement(
        figures,
        rules.call_sites(stats, settings.root),
        stats,
        manifest,
        rules.call_site_lines(stats, settings.root),
    )


def record_workload(
    session: nox.Session, settings: Settings, capture: Path, env: dict[str, str | None]
) -> None:
    """The workload recorded by memray into ``capture``."""
    warm_up(session, settings, capture, env)
    session.run("memray", "run", "-q", "-f", "-o", str(capture), settings.workload or "",
                env=env, silent=True)  # fmt: skip


def read_workload(session: nox.Session, capture: Path) -> dict[str, Any]:
    """What ``memray stats`` reads of a workload's capture (totals, top call sites)."""
    stats_json = capture.with_name(WORKLOAD_STATS)
    session.run("memray", "stats", "--json", "-n", str(SITES), "-f", "-o", str(stats_json),
                str(capture), silent=True)  # fmt: skip
    stats: dict[str, Any] = json.loads(stats_json.read_text(encoding="utf-8"))
    return stats


def warm_up(
    session: nox.Session, settings: Settings, capture: Path, env: dict[str, str | None]
) -> None:
    """Run the workload once, unmeasured, in an environment where it never ran.

    The first run of a workload in a fresh environment allocated 1.6% more at its peak than
    every later run (a bot fixture, 1.2 MiB: 21 KB more, whatever compileall had written), and
    every CI job starts fresh: one unmeasured run makes its one gate run like the others.
    """
    marker = shared_env.location(session) / ".memwise-workload-ran"
    if marker.exists():
        return
    session.run("memray", "run", "-q", "-f", "-o", str(capture), settings.workload or "",
                env=env, silent=True)  # fmt: skip
    capture.unlink(missing_ok=True)
    marker.write_text(
        "memwise: the workload ran once here (memwise.gate.measuring.warm_up)\n"
    )


def tolerance_of(settings: Settings) -> rules.Tolerance:
    return rules.Tolerance.from_settings(
        settings.gate_relative, settings.gate_absolute_kib, settings.gate_noise_factor
    )
