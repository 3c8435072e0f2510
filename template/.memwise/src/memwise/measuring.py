"""Measuring the gate's figures once: the workload's peak and total allocated (and its bytes
per call site) under memray, and each budgeted test's peak under pytest-memray. memgate,
baseline and memdiff all measure through here, so their figures compare.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nox

from memwise import gate, shared_env
from memwise.environment import bytecode_env, compile_bytecode, program_env
from memwise.manifest import Manifest
from memwise.pytest_runs import memtest_flags, read_manifest, run_pytest
from memwise.settings import Settings

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
    session: nox.Session, settings: Settings, reports: Path, *, compiled: bool = False
) -> Measurement:
    """The gate's figures: the workload's peak and total allocated (and its bytes per call
    site), and each budgeted test's peak. ``compiled``: this session wrote the bytecode for
    an earlier run of the same code (baseline's runs after its first), so it is current.

    The workload (recorded, then read by ``memray stats``) runs beside the tests: two
    processes whose allocations do not depend on each other, and on two cores a measuring run
    then takes the longer of the two rather than their sum.
    """
    figures: dict[str, int] = {}
    if not compiled:
        compile_bytecode(session, settings)
    env = {**program_env(settings), **MEASURING_ENV, **bytecode_env(session)}
    with ThreadPoolExecutor(max_workers=1) as beside:
        workload = (
            beside.submit(measure_workload, session, settings, reports, env)
            if settings.workload
            else None
        )
        flags = memtest_flags(settings, reports, "gate")
        code = run_pytest(
            # pytest's cache inside the reports: the project's .pytest_cache stays as it was
            # (and pytest-memray before 1.11 fails every limit_memory test without a cache
            # plugin).
            session, settings, *flags, "-m", "limit_memory or limit_leaks",
            "-o", f"cache_dir={reports / '.pytest_cache'}",
            "--hide-memray-summary", "-q", env=env,
        )  # fmt: skip
        stats = workload.result() if workload is not None else {}
    if stats:
        figures.update(gate.workload_figures(stats))
    manifest = read_manifest(session, settings, reports, code, may_select_none=True)
    figures.update(gate.figures_of_tests(manifest))
    if not figures:
        session.error(
            "nothing to measure: name a workload ([tool.memwise] workload) or give tests a "
            'memory budget (@pytest.mark.limit_memory("64 MB")); see .memwise/README.md'
        )
    return Measurement(
        figures,
        gate.call_sites(stats, settings.root),
        stats,
        manifest,
        gate.call_site_lines(stats, settings.root),
    )


def measure_workload(
    session: nox.Session, settings: Settings, reports: Path, env: dict[str, str | None]
) -> dict[str, Any]:
    """The workload recorded by memray, and what ``memray stats`` reads of its capture."""
    capture = reports / "workload.bin"
    warm_up(session, settings, capture, env)
    session.run("memray", "run", "-q", "-f", "-o", str(capture), settings.workload or "",
                env=env, silent=True)  # fmt: skip
    stats_json = reports / "stats.json"
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
        "memwise: the workload ran once here (memwise.measuring.warm_up)\n"
    )


def tolerance_of(settings: Settings) -> gate.Tolerance:
    return gate.Tolerance.from_settings(
        settings.gate_relative, settings.gate_absolute_kib, settings.gate_noise_factor
    )
