"""The work behind the gate's sessions: memgate, baseline, memdiff and memhistory. The
arithmetic is in ``memwise.gate.rules``, the file in ``memwise.gate.baseline``, the reports in
``memwise.views.gate_reports``; this module measures, and says what it found.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nox

from memwise.gate import baseline, gate_diffs, rules
from memwise.gate.measuring import (
    Measurement,
    MeasuringRun,
    measure,
    measure_in_turn,
    tolerance_of,
)
from memwise.plugin.manifest import Manifest
from memwise.plugin.shards import Shard, ShardError, ShardRecord
from memwise.project.options import (
    parse,
    parse_baseline,
    parse_no_options,
    parse_shard_option,
)
from memwise.project.settings import Settings
from memwise.report_names import (
    BENCHER,
    GATE_PAGE,
    GATE_VERDICT,
    SHARD,
    SUMMARY,
    WORKLOAD_CAPTURE,
)
from memwise.running.environment import install
from memwise.running.pytest_runs import keep_failing_captures
from memwise.running.report_files import flamegraphs, fresh_folder, listing
from memwise.running.run_lock import one_run
from memwise.views import gate_reports
from memwise.views.budget_failures import (
    failed_tests_lines,
    failures_message,
    over_budget_tests,
)
from memwise.views.verdict import (
    Verdict,
    culprits_of,
    markdown,
    report_page,
    terminal,
)


def memgate(session: nox.Session, settings: Settings, python: str) -> None:
    shard = parse(
        session, lambda words: parse_shard_option("memgate", MEMGATE_HELP, words)
    )
    started = time.perf_counter()
    path = settings.root / settings.baseline
    env = baseline.environment(python)
    record = baseline_record(
        session, settings, path, env, shard.count if shard is not None else None
    )  # before measuring: fail fast
    install(session, settings)
    reports = fresh_folder(session, settings.root / settings.reports / "memgate")
    run = measure(session, settings, reports, shard=shard)
    write_measured(reports, path.name, env, run)
    if shard is not None and record is not None:
        record = shard_part(session, record, shard, reports)
    if record is None:
        kept = keep_failing_captures(run.manifest, reports)
        if run.manifest.failed:
            session.error(failures_message(session, run.manifest, kept, reports, shard))
        session.warn(
            f"memgate compared NOTHING: {missing_baseline(path, env)} This run's figures are in "
            f"{reports / path.name}. In CI (CI set) this is an error."
        )
        return
    tolerance = tolerance_of(settings)
    comparisons = rules.compare(
        record.figures,
        record.noise,
        run.figures,
        tolerance,
        settings.gate_allow_missing,
    )
    total = rules.allowed_growth(comparisons, rules.WORKLOAD_TOTAL)
    sites = rules.grown_sites(record.sites, run.sites, more_than=total)
    regressions = [c for c in comparisons if c.status == "REGRESSION"]
    regressed_tests = {c.name.removesuffix(" peak") for c in regressions}
    kept = keep_failing_captures(run.manifest, reports, also=regressed_tests)
    graphs = gate_diffs.draw(session, settings, regressions, run.manifest, reports)
    verdict = Verdict(
        comparisons, tolerance, env, sites,
        culprits=culprits_of(comparisons, graphs, sites, run.site_lines),
        graphs={figure: page.name for figure, page in graphs.items()},
        over_budget=over_budget_tests(session, run.manifest, kept, reports),
        failed_otherwise=[test.nodeid for test in run.manifest.failed_otherwise],
    )  # fmt: skip
    summary = reports / SUMMARY
    summary.write_text(markdown(verdict), "utf-8")
    write_gate_verdict(reports, verdict.passed, comparisons, shard)
    page = reports / GATE_PAGE
    of_shard = f", shard {shard}" if shard is not None else ""
    page.write_text(report_page(verdict, f"Memory gate: {env}{of_shard}"), "utf-8")
    for comparison in verdict.within:
        session.log(comparison.describe())
    missing = [c for c in comparisons if c.status == "MISSING"]
    new = [c.name for c in comparisons if c.status == "new"]
    if new:
        session.log(
            f"{len(new)} figure(s) not in {path.name} yet (not compared; `nox -s baseline` "
            f"records them):\n{listing([Path(name) for name in new])}"
        )
    improved = [c for c in comparisons if c.status == "improved"]
    if improved and verdict.passed:
        session.log(
            f"{len(improved)} figure(s) shrank below their tolerance band: record them with "
            f"`nox -s baseline` and commit {path.name}, so that the gate holds the gain"
        )
    elapsed = time.perf_counter() - started
    if not verdict.passed:
        problems = [terminal(verdict, reports), *failed_tests_lines(verdict, python)]
        if regressions:
            problems.append(
                regression_message(
                    session, regressions, kept, run.manifest, reports, path.name
                )
            )
        if missing:
            problems.append(missing_message(missing, path.name))
        session.error("\n".join([*problems, f"summary: {summary}", f"report: {page}"]))
    of_shard = f", shard {shard}" if shard is not None else ""
    session.log(
        f"memory gate passed on Python {python}{of_shard}: {len(comparisons) - len(new)} "
        f"figure(s) compared in {elapsed:.1f} s ({tolerance}); summary: {summary}"
    )


def shard_part(
    session: nox.Session, record: baseline.Record, shard: Shard, reports: Path
) -> baseline.Record:
    """The baseline's figures this shard measures: its group's tests, and with the first
    group the workload and every test figure no shard collected (so a test that is gone is
    named missing once). The shards' parts add up to the whole file (``memwise.plugin.shards``).
    """
    try:
        groups = ShardRecord.read(reports / SHARD)
    except ShardError as error:
        session.error(f"memgate --shard {shard}: {error}")
    owned = rules.shard_figures(
        record.figures, shard.index == 1, groups.selected, groups.collected
    )
    return baseline.Record(
        {name: size for name, size in record.figures.items() if name in owned},
        {name: size for name, size in record.noise.items() if name in owned},
        record.sites if shard.index == 1 else {},
        record.runs,
        record.method,
    )


def write_gate_verdict(
    reports: Path,
    passed: bool,
    comparisons: list[rules.Comparison],
    shard: Shard | None,
) -> None:
    """gate.json: what `nox -s memreport` reads of a memgate's report folder."""
    data = {
        "passed": passed,
        "shard": str(shard) if shard is not None else None,
        "figures": sorted(c.name for c in comparisons if c.status != "new"),
    }
    (reports / GATE_VERDICT).write_text(json.dumps(data, indent=1), encoding="utf-8")


MEMGATE_HELP = (
    "Measure the gate's figures once (the workload's peak and total allocated, each budgeted "
    "test's peak) and fail when one grew past its baseline plus tolerance, or when a figure of "
    "the baseline was not measured. Settings: [tool.memwise.gate]; the baseline: `nox -s "
    "baseline`."
)


def baseline_record(
    session: nox.Session,
    settings: Settings,
    path: Path,
    env: str,
    shards: int | None = None,
) -> baseline.Record | None:
    """This environment's record; the session stops on a broken file, on figures measured
    another way (another allocator, or the budgeted tests split into another number of
    ``shards``), and in CI (CI set) on a missing file or environment."""
    try:
        record = baseline.read(path).get(env)
    except baseline.BaselineError as error:
        session.error(str(error))
    if record is None and os.environ.get("CI"):
        session.error(
            f"{missing_baseline(path, env)} In CI the gate must compare something: commit the "
            "file, or copy it from this job's reports (reports/memgate/) and commit it."
        )
    expected = baseline.method_of(shards)
    if record is not None and record.method.startswith(baseline.METHOD):
        if record.method != expected:
            session.error(
                f"{path} holds figures of {env} measured as `{record.method}`, and this run "
                f"measures as `{expected}`: a budgeted test's peak can depend on the tests run "
                "before it in its process, so the gate compares only figures of the same split. "
                "Run memgate with the baseline's --shard K/N for each K, or record the baseline "
                "again as this run measures (`nox -s baseline` with the same --shard, each K)"
            )
    elif record is not None:
        session.error(
            f"{path} holds figures of {env} measured with {record.method}, and memwise now "
            f"measures with {baseline.METHOD} (steadier figures): record them again with "
            f"`nox -s baseline` and commit {path.name}"
        )
    return record


def missing_baseline(path: Path, env: str) -> str:
    if not path.is_file():
        return f"there is no baseline file {path}: record it with `nox -s baseline` and commit it."
    found = ", ".join(sorted(baseline.read(path))) or "none"
    return (
        f"{path.name} has no figures for this environment ({env}; it has: {found}): record "
        f"them with `nox -s baseline` here and commit {path.name}."
    )


def missing_message(missing: list[rules.Comparison], baseline_name: str) -> str:
    return (
        f"{len(missing)} figure(s) of {baseline_name} were not measured by this run (a budgeted "
        "test renamed, removed, skipped or no longer marked?):\n"
        + listing([Path(c.name) for c in missing])
        + "\nIf that is intended, record the baseline again (`nox -s baseline`) and commit it, or "
        'allow them: [tool.memwise.gate] allow-missing = ["<figure name pattern>"]'
    )


def write_measured(reports: Path, name: str, env: str, run: Measurement) -> None:
    """This run's figures as a baseline file (copy it to accept them, e.g. from a CI
    artifact) and in the formats of Bencher and github-action-benchmark."""
    record = baseline.Record(run.figures, dict.fromkeys(run.figures, 0), run.sites)
    (reports / name).write_text(baseline.text({env: record}), encoding="utf-8")
    (reports / BENCHER).write_text(
        gate_reports.bencher_metric_format(run.figures), "utf-8"
    )
    action = gate_reports.benchmark_action_json(run.figures)
    (reports / "benchmark-action.json").write_text(action, encoding="utf-8")


def regression_message(
    session: nox.Session,
    regressions: list[rules.Comparison],
    kept: list[Path],
    manifest: Manifest,
    reports: Path,
    baseline_name: str,
) -> str:
    """The regressed captures' flamegraphs (the verdict above names what grew, and the
    differential pages), and how to accept an intended growth."""
    pictures = []
    workload = reports / WORKLOAD_CAPTURE
    if workload.exists() and any(c.name.startswith("workload ") for c in regressions):
        pictures += flamegraphs(session, workload, reports / "workload")
    tests = {
        Path(test.capture).resolve(): test.nodeid
        for test in manifest.tests
        if test.capture
    }
    pictures += [
        path
        for capture in kept
        for path in flamegraphs(
            session, capture, reports / capture.stem, tests.get(capture.resolve())
        )
    ]
    return (
        f"memory regression: {len(regressions)} figure(s) above {baseline_name} + tolerance "
        "(set in [tool.memwise.gate] of pyproject.toml)."
        + (
            f"\nFlamegraphs of the captures now:\n{listing(pictures)}"
            if pictures
            else ""
        )
        + f"\nIf the growth is intended, record it with `nox -s baseline` and commit {baseline_name}."
    )


def record_baseline(session: nox.Session, settings: Settings, python: str) -> None:
    options = parse(session, lambda words: parse_baseline(words, settings.gate_runs))
    count, shard = options.runs, options.shard
    path = settings.root / settings.baseline
    try:  # before measuring: the other environments' figures are kept from this file
        baseline.read(path)
    except baseline.BaselineError as error:
        session.error(
            f"{str(error).split('; fix it')[0]}. `nox -s baseline` keeps the other "
            f"environments' figures from it, so it must be whole: restore it (`git checkout "
            f"{path.name}`), or delete it to record this environment's figures alone"
        )
    install(session, settings)
    folder = fresh_folder(session, settings.root / settings.reports / "baseline")
    measuring: list[MeasuringRun] = []
    # Each run's workload capture is read back while the next run measures (memwise.gate.measuring).
    with ThreadPoolExecutor(max_workers=1) as reader:
        for number in range(count):
            session.log(f"measuring, run {number + 1} of {count}")
            into = folder / f"run-{number + 1}"
            into.mkdir()
            run = measure_in_turn(
                session, settings, into, reader, compiled=number > 0, shard=shard
            )
            if run.manifest.failed:
                session.error(
                    "tests failed their memory limits: fix them (`nox -s memtest`) before "
                    "recording a baseline"
                )
            measuring.append(run)
        runs = [run.result() for run in measuring]
    figures, noise = rules.median_and_noise([run.figures for run in runs])
    sites, _ = rules.median_and_noise([run.sites for run in runs])
    env = baseline.environment(python)
    method = baseline.method_of(shard.count if shard is not None else None)
    record = baseline.Record(figures, noise, sites, runs=len(runs), method=method)
    if shard is not None:
        record = with_other_shards(session, path, env, record, shard, folder / "run-1")
    try:
        baseline.write(path, env, record)
    except baseline.BaselineError as error:
        session.error(f"{error} (the other environments' figures are kept from it)")
    session.log(
        f"wrote the figures of {env} to {path} ({len(runs)} runs): review and commit it"
    )
    for warning in rules.unsteady_figures(figures, noise, tolerance_of(settings)):
        session.warn(warning)


def with_other_shards(
    session: nox.Session,
    path: Path,
    env: str,
    record: baseline.Record,
    shard: Shard,
    run: Path,
) -> baseline.Record:
    """This shard's figures, with the other shards' kept from the file where they were
    measured with the same split (``rules.shard_figures`` says which figures are whose).
    """
    try:
        groups = ShardRecord.read(run / SHARD)
    except ShardError as error:
        session.error(f"baseline --shard {shard}: {error}")
    kept = baseline.read(path).get(env)
    if kept is None or kept.method != record.method:
        session.warn(
            f"{path.name} holds no figures of {env} measured in {shard.count} shards: it gets "
            f"shard {shard}'s alone. Record the others with `nox -s baseline -- --shard "
            f"K/{shard.count}` for each other K"
        )
        return record
    theirs = set(kept.figures) - rules.shard_figures(
        kept.figures, shard.index == 1, groups.selected, groups.collected
    )
    session.log(f"kept {len(theirs)} figure(s) of the other shards from {path.name}")
    return baseline.Record(
        {**{name: kept.figures[name] for name in theirs}, **record.figures},
        {**{name: kept.noise.get(name, 0) for name in theirs}, **record.noise},
        record.sites if shard.index == 1 else kept.sites,
        record.runs,
        record.method,
    )


def memhistory(session: nox.Session, settings: Settings, python: str) -> None:
    parse(session, lambda words: parse_no_options("memhistory", MEMHISTORY_HELP, words))
    with one_run(session, settings.root):
        draw_history(session, settings, python)


def draw_history(session: nox.Session, settings: Settings, python: str) -> None:
    path = settings.root / settings.baseline
    tracked = settings.baseline.as_posix()  # git's path, from the project's root
    env = baseline.environment(python)
    log = subprocess.run(
        ["git", "log", "--reverse", "--format=%h %ad %s", "--date=short", "--", tracked],
        cwd=settings.root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if log.returncode != 0:
        session.error(
            f"git could not read the history of {path.name}: {log.stderr.strip()}"
        )
    history = []
    for line in log.stdout.splitlines():
        commit, date, subject = [*line.split(" ", 2), ""][:3]
        shown = subprocess.run(["git", "show", f"{commit}:./{tracked}"], cwd=settings.root,
                               capture_output=True, text=True, check=False)  # fmt: skip
        if shown.returncode == 0:
            try:
                data = baseline.parse(shown.stdout)
            except baseline.BaselineError as error:
                session.warn(f"{path.name} at {commit} is {error}: left out")
                continue
            history.append(
                gate_reports.Version(
                    commit, date, subject, gate_reports.figures_from_any(data, env),
                    gate_reports.noise_from_any(data, env),
                )
            )  # fmt: skip
    if not history:
        session.error(
            f"{path.name} has no committed history yet: commit it, then run again"
        )
    reports = fresh_folder(session, settings.root / settings.reports / "memhistory")
    page = reports / "history.html"
    page.write_text(
        gate_reports.history_html(env, history, tolerance_of(settings)),
        encoding="utf-8",
    )
    latest = history[-1].figures
    (reports / BENCHER).write_text(gate_reports.bencher_metric_format(latest), "utf-8")
    (reports / "benchmark-action.json").write_text(
        gate_reports.benchmark_action_json(latest), "utf-8"
    )
    session.log(
        f"history of {len(history)} version(s) of {path.name} ({env}):\n{listing([page])}"
    )


MEMHISTORY_HELP = (
    "Plot each gate figure of this environment over the git history of the baseline file "
    "(offline HTML in reports/memhistory/, with Bencher and github-action-benchmark exports). "
    "Measures nothing and installs nothing."
)
