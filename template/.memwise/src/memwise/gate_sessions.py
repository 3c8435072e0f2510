"""The work behind the gate's sessions: memgate, baseline, memdiff and memhistory. The
arithmetic is in ``memwise.gate``, the file in ``memwise.baseline``, the reports in
``memwise.gate_reports``; this module measures, and says what it found.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nox

from memwise import baseline, gate, gate_reports
from memwise.environment import compile_bytecode, install, program_env
from memwise.manifest import Manifest
from memwise.options import parse_baseline_runs
from memwise.pytest_runs import keep_failing_captures, memtest_flags, read_manifest, run_pytest
from memwise.reports import flamegraphs, fresh_folder, listing
from memwise.sessions import parse
from memwise.settings import Settings, SettingsError, load

SITES = 30  # call sites of the workload kept per baseline (memray stats -n)


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
    compile_bytecode(session, settings)
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
    manifest = read_manifest(session, reports, code, may_select_none=True)
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
    count = parse(session, lambda words: parse_baseline_runs(words, settings.gate_runs))
    install(session, settings)
    runs: list[Measurement] = []
    for number in range(count):
        session.log(f"measuring, run {number + 1} of {count}")
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
                (commit, date, gate_reports.figures_from_any(baseline.parse(shown.stdout), env))
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
