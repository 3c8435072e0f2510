"""The memory regression gate: its arithmetic (fast) and the real sessions on a render (slow)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from memwise.gate import baseline, gate_diffs, rules
from memwise.plugin.manifest import Manifest, TestRecord
from memwise.project import settings
from memwise.project.options import parse_baseline_runs
from memwise.views import diffgraph, gate_reports, pr_comment

from tests import growth
from tests.helpers import (
    ARTIFACTS,
    browse,
    comment_page,
    git,
    nox,
    render,
    render_with_committed_baseline,
    run,
    session_env,
)

MIB = 1024 * 1024


def test_tolerance_is_the_noise_band_or_the_floor() -> None:
    tolerance = rules.Tolerance.from_settings(relative=0.01, absolute_kib=16, noise_factor=4)
    # A deterministic figure: the 1% floor, so a 2% growth is caught, peaks as totals.
    for name in ("workload total allocated", "t::x peak"):
        for size in (MIB, 4 * MIB, 600 * MIB):
            assert int(size * 1.02) > tolerance.limit(name, size, 0), (name, size)
            assert int(size * 1.009) <= tolerance.limit(name, size, 0), (name, size)
    # A noisy figure: 4 times its noise.
    assert tolerance.limit("workload total allocated", 600 * MIB, 10 * MIB) == 640 * MIB
    # A figure of a few KiB is allowed the absolute floor, not a few bytes.
    assert tolerance.limit("t::tiny peak", 10 * 1024, 0) == 26 * 1024


def test_median_and_noise_of_runs_resist_one_odd_run() -> None:
    runs = [{"a": 10, "b": 5}, {"a": 10, "b": 5}, {"a": 11, "b": 5}, {"a": 10, "b": 5},
            {"a": 10 + MIB, "b": 5}]  # fmt: skip
    medians, noise = rules.median_and_noise(runs)
    assert medians == {"a": 10, "b": 5}
    # One arena-sized outlier in five runs moves neither (the range would be 1 MiB).
    assert noise == {"a": 0, "b": 0}
    _, spread = rules.median_and_noise([{"a": 100}, {"a": 110}, {"a": 90}, {"a": 104}, {"a": 96}])
    assert spread == {"a": round(1.4826 * 4)}


def test_a_figure_that_varies_from_run_to_run_is_named_at_baseline_time() -> None:
    tolerance = rules.Tolerance.from_settings(relative=0.01, absolute_kib=16, noise_factor=4)
    figures = {"workload total allocated": 160 * MIB, "workload peak": 2 * MIB, "t::x peak": 8192}
    # A workload that loops for a time: its total moves by 6 MiB between runs, 4 x that is 15%.
    noise = {"workload total allocated": 6 * MIB, "workload peak": 1024, "t::x peak": 3000}
    (warning,) = rules.unsteady_figures(figures, noise, tolerance)
    assert warning.startswith("workload total allocated varied between runs by 6.00 MiB")
    assert "grow by 15% (24.00 MiB) unnoticed" in warning
    # Steady figures, and a tiny one whose band stays under the 16 KiB floor, say nothing.
    steady = {"workload total allocated": MIB, "workload peak": 1024, "t::x peak": 3000}
    assert rules.unsteady_figures(figures, steady, tolerance) == []


def test_the_differential_flamegraph_marks_the_frame_whose_own_memory_grew() -> None:
    main, handler, grown = "main (svc/app.py)", "handle (svc/app.py)", "leaky (svc/app.py)"
    before = [((main, handler), 4 * MIB), ((main,), MIB)]
    after = [((main, handler), 4 * MIB), ((main, handler, grown), MIB), ((main,), MIB)]
    root = diffgraph.merge(before, after)
    assert (root.before, root.after) == (5 * MIB, 6 * MIB)
    frame = root.children[main].children[handler]
    assert (frame.before, frame.after) == (4 * MIB, 5 * MIB)  # its callee's growth included
    limit = diffgraph.threshold(root)
    # The colour follows a frame's own lines: the grown callee, not its callers.
    assert diffgraph.verdict(frame.children[grown], limit) == "grew"
    assert diffgraph.verdict(frame, limit) == "same"
    assert diffgraph.verdict(root.children[main], limit) == "same"
    assert [f.label for f in diffgraph.moved_frames(root)] == [grown]
    page = diffgraph.page(root, "t", ("ref", "now"))
    assert re.search(r'<div class="frame grew"[^>]*data-label="leaky \(svc/app\.py\)"', page)
    # Less than the threshold (0.5% of the peak, at least 16 KiB) is "about the same".
    small = diffgraph.merge(before, [*before, ((main, handler, grown), 10 * 1024)])
    assert diffgraph.moved_frames(small) == []
    shrunk = diffgraph.merge(after, before)
    assert diffgraph.verdict(shrunk.children[main].children[handler].children[grown],
                             diffgraph.threshold(shrunk)) == "shrank"  # fmt: skip


def test_the_differential_flamegraph_marks_frames_at_the_projects_absolute_floor() -> None:
    """The page's floor is the gate's absolute-kib (--floor), not a second 16 KiB of its own."""
    main, grown = "main (svc/app.py)", "leaky (svc/app.py)"
    before = [((main,), MIB)]
    root = diffgraph.merge(before, [*before, ((main, grown), 64 * 1024)])
    assert [f.label for f in diffgraph.moved_frames(root)] == [grown]  # the default 16 KiB
    assert diffgraph.moved_frames(root, floor=128 * 1024) == []
    assert 'class="frame grew"' not in diffgraph.page(root, "t", ("a", "b"), floor=128 * 1024)
    assert diffgraph.culprits(root, {}, floor=128 * 1024) == []
    with pytest.raises(SystemExit):
        diffgraph.main(["a.bin", "b.bin", "out.html", "--floor", "-1"])


def test_a_tests_graph_starts_at_the_test_function() -> None:
    runner = ("pytest_pyfunc_call (_pytest/python.py)", "_multicall (pluggy/_callers.py)")
    test = "test_cache (tests/test_memory.py)"
    stacks = [((*runner, test, "put (svc/cache.py)"), MIB), ((*runner,), 2 * MIB)]
    cut = diffgraph.from_function(stacks, "test_cache")
    assert cut == [((test, "put (svc/cache.py)"), MIB)]  # the runner's own memory left out
    page = diffgraph.page(diffgraph.merge(cut, cut), "t", diffgraph.SINGLE, single=True)
    assert re.findall(r'data-label="([^"]+)"', page) == ["all", test, "put (svc/cache.py)"]
    assert "1.00 MiB at the peak" in page


def test_call_sites_are_named_portably_and_diffed() -> None:
    root = Path("/work/service")
    stats = {"top_allocations_by_size": [
        {"location": "render:/work/service/src/svc/report.py:10", "size": 5 * MIB},
        {"location": "render:/work/service/src/svc/report.py:31", "size": MIB},
        {"location": "dumps:/usr/lib/python3.15/json/__init__.py:231", "size": 2 * MIB},
        {"location": "get:/venv/lib/python3.15/site-packages/lib/x.py:3", "size": MIB},
    ]}  # fmt: skip
    sites = rules.call_sites(stats, root)
    assert sites == {
        "render (src/svc/report.py)": 6 * MIB,
        "dumps (json/__init__.py)": 2 * MIB,
        "get (lib/x.py)": MIB,
    }
    after = {**sites, "render (src/svc/report.py)": 7 * MIB, "new_one (src/svc/a.py)": MIB // 2}
    grown = rules.grown_sites(sites, after)
    assert [change.site for change in grown] == [
        "render (src/svc/report.py)",
        "new_one (src/svc/a.py)",
    ]
    assert grown[0].describe() == "render (src/svc/report.py): 6.00 MiB -> 7.00 MiB (+1.00 MiB)"


def test_baselines_of_two_environments_coexist(tmp_path: Path) -> None:
    path = tmp_path / "memory-baseline.toml"
    odd = 'peak of "odd" name \\ 😀 [x]'
    linux = baseline.Record({odd: 3 * MIB}, {odd: 1}, {"f (a.py)": 2}, 3)
    baseline.write(path, "3.15-linux-x86_64", linux)
    mac = baseline.Record({"workload peak": 12345}, {"workload peak": 0})
    baseline.write(path, "3.14t-darwin-arm64", mac)
    baseline.write(path, "3.15-linux-x86_64", linux)  # rewriting one keeps the other
    assert baseline.read(path) == {"3.15-linux-x86_64": linux, "3.14t-darwin-arm64": mac}
    assert "# 3.00 MiB" in path.read_text()
    assert baseline.environment("3.15").startswith("3.15-")


def test_exports_and_history_are_self_contained() -> None:
    figures = {"workload peak": 2 * MIB, "t::x peak": MIB}
    assert json.loads(gate_reports.bencher_metric_format(figures))["workload peak"] == {
        "bytes": {"value": 2 * MIB}
    }
    assert {"name": "t::x peak", "unit": "bytes", "value": MIB} in json.loads(
        gate_reports.benchmark_action_json(figures)
    )
    history = [
        gate_reports.Version("abc1234", "2026-11-01", "Start", {"workload peak": MIB}),
        gate_reports.Version("def5678", "2026-11-02", "Cache reports", figures),
    ]
    page = gate_reports.history_html("3.15-linux-x86_64", history)
    assert page.count("<svg") == 2
    assert "workload peak" in page
    assert "def5678 2026-11-02 Cache reports: 2.00 MiB" in page
    assert not re.search(r"(src|href)=[\"']?https?:", page)
    old_format = {"python": "3.13", "platform": "linux", "figures": {"workload peak": 1}}
    assert gate_reports.figures_from_any(old_format, "3.13-linux-x86_64") == {"workload peak": 1}


@pytest.mark.slow  # a headless browser
def test_the_history_page_reads_without_hovering(tmp_path: Path) -> None:
    history = [
        gate_reports.Version("abc1234", "2026-11-01", "Start", {"workload peak": MIB}),
        gate_reports.Version("def5678", "2026-11-02", "More", {"workload peak": 3 * MIB}),
    ]
    pages = {"two": history, "one": history[:1]}
    for name, versions in pages.items():
        (tmp_path / f"{name}.html").write_text(gate_reports.history_html("3.15-linux", versions))
    shots = ARTIFACTS / "memhistory"
    shots.mkdir(parents=True, exist_ok=True)
    two, one = browse(
        [{"url": (tmp_path / f"{name}.html").as_uri(), "texts": ["text.tick", "text.commit",
          "text.date", "p.note"], "screenshot": str(shots / f"{name}.png")} for name in pages]
    )  # fmt: skip
    for seen in (two, one):
        assert seen["errors"] == []
        assert [url for url in seen["requests"] if not url.startswith("file://")] == []
    # A value axis from zero, commits and dates under the points.
    assert two["texts"]["text.tick"] == ["0 MiB", "1 MiB", "2 MiB", "3 MiB"]
    assert two["texts"]["text.commit"] == ["abc1234", "def5678"]
    assert two["texts"]["text.date"] == ["2026-11-01", "2026-11-02"]
    assert two["texts"]["p.note"] == []
    # One version: the page says what a trend needs.
    assert one["texts"]["text.commit"] == ["abc1234"]
    assert "two or more commits" in one["texts"]["p.note"][0]


def test_the_history_starts_at_zero_bands_the_tolerance_and_marks_a_regression() -> None:
    tolerance = rules.Tolerance(0.01, 16 * 1024, 4.0)
    peak = 3_300_000
    versions = [
        gate_reports.Version("a1", "2026-11-01", "Start", {"workload peak": peak}, {"workload peak": 0}),
        gate_reports.Version("b2", "2026-11-02", "Tiny", {"workload peak": peak + 660}),  # +0.02%
        gate_reports.Version("c3", "2026-11-03", "Grow the cache", {"workload peak": peak * 11 // 10}),
    ]  # fmt: skip
    page = gate_reports.history_html("3.15-linux-x86_64", versions, tolerance)
    labels = re.findall(r"<text class='tick'[^>]*>([^<]+)</text>", page)
    assert labels[0].startswith("0")  # from zero: +0.02% is no spike
    assert len(set(labels)) == len(labels)  # enough digits that no two ticks read the same
    assert page.count("class='band'") == 3
    grown = re.findall(r"<circle class='grown'[^>]*><title>([^<]+)</title>", page)
    assert len(grown) == 1
    assert grown[0].startswith("c3 2026-11-03 Grow the cache: 3.46 MiB (above the 3.18 MiB")
    assert "viewBox" in page  # the page's width, not a fixed 720 px


def test_test_figures_are_named_by_node_id_from_the_manifest() -> None:
    long_id = "tests/test_x.py::test_y[" + "a" * 300 + "]"
    manifest = Manifest("3.13", "linux", 1, [
        TestRecord(long_id, "failed", "pytest-memray", 5 * MIB, "captures/x.bin"),
        TestRecord("tests/test_x.py::test_skipped", "skipped"),
        TestRecord("tests/test_x.py::test_unmeasured", "passed"),
    ])  # fmt: skip
    assert rules.figures_of_tests(manifest) == {f"{long_id} peak": 5 * MIB}


def test_compare_fails_figures_above_their_limit_and_those_gone_missing() -> None:
    tolerance = rules.Tolerance(relative=0.05, absolute_bytes=0, noise_factor=3)
    recorded = {"steady": 100 * MIB, "grown": 100 * MIB, "gone": MIB, "shrunk": 100 * MIB,
                "skipped::test": MIB}  # fmt: skip
    now = {"steady": 105 * MIB, "grown": 106 * MIB, "new": MIB, "shrunk": 90 * MIB}
    comparisons = rules.compare(recorded, {}, now, tolerance, allow_missing=["skipped::*"])
    status = {c.name: c.status for c in comparisons}
    assert status == {
        "steady": "ok", "grown": "REGRESSION", "gone": "MISSING", "new": "new",
        "shrunk": "improved", "skipped::test": "not measured (allowed)",
    }  # fmt: skip
    assert {c.name for c in comparisons if c.fails} == {"grown", "gone"}


def grown_site(message: str) -> float:
    """The MiB the injected function allocates, as the call-site diff of a message says."""
    site = re.search(
        r"grew: distinctive_growth_of_the_total \(src/my_service/workload\.py(?::\d+)?\) "
        r"\+([\d.]+) MiB",
        message,
    )
    assert site is not None, message[-3000:]
    return float(site[1])


def test_a_shallow_clone_names_no_baseline_commit_it_cannot_see(tmp_path: Path) -> None:
    # The baseline recorded two commits back; a clone of depth 1 cuts its history at HEAD, and
    # git then says HEAD changed every file. A depth beyond the history reaches the real commit.
    origin = tmp_path / "origin"
    origin.mkdir()
    (origin / "pyproject.toml").write_text('[project]\nname = "svc"\nversion = "1"\n')
    (origin / "memory-baseline.toml").write_text("# figures\n")
    git(origin, "init", "-q")
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "baseline")
    recorded = git(origin, "rev-parse", "HEAD").strip()
    for change in ("one", "two"):
        (origin / "README.md").write_text(change)
        git(origin, "add", "-A")
        git(origin, "commit", "-q", "-m", change)
    found = {}
    for depth in (1, 10):
        clone = tmp_path / f"depth-{depth}"
        git(tmp_path, "clone", "-q", "--depth", str(depth), origin.as_uri(), str(clone))
        found[depth] = gate_diffs.baseline_commit(settings.load(clone))
    commit, why = found[1]
    assert commit is None
    assert "shallow clone" in why
    assert "fetch-depth: 0" in why
    assert found[10] == (recorded, "")


def test_the_baseline_measures_five_times_unless_told(default_project: Path) -> None:
    runs = settings.load(default_project).gate_runs  # the render's [tool.memwise.gate] runs
    assert parse_baseline_runs([], runs) == 5
    assert parse_baseline_runs(["--runs", "3"], runs) == 3


@pytest.mark.slow
def test_gate_catches_two_percent_and_says_where_memory_grew(tmp_path) -> None:
    project = render(tmp_path / "gated")
    git(project, "init", "-q")
    # Three measuring runs, not the render's five (test_the_baseline_measures_five_times...):
    # enough for a noise band, and each run is seconds of memray.
    recorded_log = nox(project, "-s", "baseline", "--", "--runs", "3").stderr
    # Bytecode written once, before the first run: the code does not change between runs.
    assert recorded_log.count(" -m compileall ") == 1, recorded_log
    recorded = tomllib.loads((project / "memory-baseline.toml").read_text())
    ((env, table),) = recorded["environments"].items()
    assert env.startswith("3.15-")  # the memory Python
    assert table["runs"] == 3
    assert {"workload peak", "workload total allocated"} <= set(table["figures"])
    assert set(table["noise"]) == set(table["figures"])
    assert any(name.startswith("tests/test_memory.py::") for name in table["figures"])
    assert any("(src/my_service/" in site for site in table["sites"])
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "baseline")

    # Unchanged code passes (the noise study is benchmarks/gate_noise.py). memgate runs in
    # the environment baseline built, without -R, and installs nothing (memwise.running.shared_env).
    shared = project / ".nox" / "memwise-memory-3.15"
    made = (shared / "bin" / "python").lstat().st_ino
    result = nox(project, "-s", "memgate")
    assert "memory gate passed" in result.stderr
    assert sorted(path.name for path in (project / ".nox").iterdir() if path.is_dir()) == [
        shared.name
    ]
    assert (shared / "bin" / "python").lstat().st_ino == made
    assert " pip install" not in result.stderr
    assert " sync " not in result.stderr
    reports = project / "reports" / "memgate"
    assert "## ✅ Memory gate passed" in (reports / "summary.md").read_text()
    assert json.loads((reports / "bencher.json").read_text())["workload peak"]["bytes"]["value"] > 0

    total = table["figures"]["workload total allocated"]
    growth.grow_workload_total(project, total // 50)  # 2%
    result = nox(project, "-R", "-s", "memgate", check=False)
    assert result.returncode != 0
    message = result.stderr
    # The growth reported is the one injected, within the total's run-to-run variation
    # (0.37% at most in 50 unchanged runs, docs/ci.md), and it is over the allowed figure.
    reported = re.search(
        r"workload total allocated: ([\d.]+) MiB -> ([\d.]+) MiB, \+[\d.]+ MiB \(\+[\d.]+%\), "
        r"allowed up to ([\d.]+) MiB",
        message,
    )
    assert reported is not None, message
    before, after, allowed = (float(value) for value in reported.groups())
    assert abs((after - before) - total / 50 / MIB) < 0.005 * total / MIB
    assert after >= allowed
    assert abs(grown_site(message) - total / 50 / MIB) < 0.01 * total / 50 / MIB
    for report in ("summary.md", "report.html"):
        assert "distinctive_growth_of_the_total" in (reports / report).read_text(), report
    assert "REGRESSION" in (reports / "summary.md").read_text()
    assert str(reports / "workload.html") in message
    assert (reports / "workload.html").is_file()

    # Accepting the growth: a new baseline (one run will do here), committed; memhistory
    # plots both versions.
    nox(project, "-R", "-s", "baseline", "--", "--runs", "1")
    git(project, "commit", "-q", "-am", "accept 1% more")
    history = nox(project, "-s", "memhistory")
    page = (project / "reports" / "memhistory" / "history.html").read_text()
    assert "2 version(s) of the baseline file" in page
    assert page.count("<svg") == len(table["figures"])
    assert "workload total allocated" in page
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?https?://", page)
    assert str(project / "reports" / "memhistory" / "history.html") in history.stderr


def grown_frames(page: Path) -> list[str]:
    """The frames a differential flamegraph marks as grown."""
    marked = re.findall(r'<div class="frame (\w+)"[^>]*data-label="([^"]+)"', page.read_text())
    return [name for kind, name in marked if kind == "grew"]


@pytest.mark.slow
def test_a_red_gate_draws_what_grew_against_the_baselines_commit(tmp_path) -> None:
    project = render_with_committed_baseline(tmp_path / "drawn")
    growth.grow_workload_peak(project, MIB)  # uncommitted, as in a pull request's work
    growth.grow_test_peak(project, growth.SMALL_TEST, 256 * 1024)
    result = nox(project, "-R", "-s", "memgate", check=False)
    assert result.returncode != 0
    reports = project / "reports" / "memgate"
    workload = reports / "workload_peak-diff.html"
    test = reports / (re.sub(r"[^\w.-]+", "_", growth.SMALL_TEST_FIGURE).strip("_") + "-diff.html")
    # The grown function's frame is marked as grown, and no other.
    assert grown_frames(workload) == ["distinctive_growth_of_the_peak (my_service/workload.py)"]
    assert grown_frames(test) == [f"{growth.SMALL_TEST} (tests/test_memory.py)"]
    # A test's graph starts at the test function: pytest's and pluggy's frames left out.
    labels = re.findall(r'data-label="([^"]+)"', test.read_text())
    assert labels[:2] == ["all", f"{growth.SMALL_TEST} (tests/test_memory.py)"]
    assert not [label for label in labels if "pluggy" in label or "_pytest" in label]
    # The gate's message, summary and page lead to them.
    for page in (workload, test):
        assert str(page) in result.stderr
        assert f"]({page.name} " in (reports / "summary.md").read_text()
        assert f"href='{page.name}'" in (reports / "report.html").read_text()
    assert "Memory gate failed" in (reports / "report.html").read_text()
    assert "What grew: workload peak, the baseline&#x27;s commit" in workload.read_text()
    # Read in a real browser: no error, nothing fetched from outside the reports, the verdict
    # and the grown frame where a reader looks (screenshots kept in .cache/test-artifacts).
    shots = ARTIFACTS / "memgate"
    shots.mkdir(parents=True, exist_ok=True)
    opened = browse(
        [
            {"url": (reports / "report.html").as_uri(),
             "texts": ["p.verdict", "ul.culprits li", "h2 a"],
             "screenshot": str(shots / "report.png")},
            {"url": workload.as_uri(), "texts": [".frame.grew > .name"],
             "screenshot": str(shots / "workload-peak-diff.png")},
            {"url": test.as_uri(), "texts": [".frame.grew > .name"],
             "screenshot": str(shots / "test-peak-diff.png")},
        ]
    )  # fmt: skip
    for page in opened:
        assert page["errors"] == [], page["url"]
        assert [url for url in page["requests"] if not url.startswith("file://")] == []
    report, workload_seen, test_seen = (page["texts"] for page in opened)
    assert report["p.verdict"][0].startswith("Memory gate failed")
    # The function that grew, with its file and line, in the first screen; a link to each
    # differential page (the workload's and one per regressed test).
    culprits = report["ul.culprits li"]
    assert any(
        li.startswith("distinctive_growth_of_the_peak (my_service/workload.py:") for li in culprits
    ), culprits
    assert any(li.startswith(f"{growth.SMALL_TEST} (tests/test_memory.py:") for li in culprits)
    assert set(report["h2 a"]) == {"differential flamegraph"}
    text = (reports / "report.html").read_text()
    assert {workload.name, test.name} <= set(re.findall(r"href='([^']+-diff\.html)'", text))
    # The grown frame shows its change and its line without hovering.
    [workload_frame] = workload_seen[".frame.grew > .name"]
    assert re.fullmatch(
        r"\+1\.0\d MiB distinctive_growth_of_the_peak \(my_service/workload\.py:\d+\)",
        workload_frame,
    ), workload_frame
    [test_frame] = test_seen[".frame.grew > .name"]
    assert re.fullmatch(
        rf"\+0\.2\d MiB {growth.SMALL_TEST} \(tests/test_memory\.py:\d+\)", test_frame
    ), test_frame
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=project, capture_output=True,
                               text=True, check=True).stdout  # fmt: skip
    assert len(worktrees.splitlines()) == 1  # the temporary worktree is gone
    # The baseline's own edits have no commit to measure: said, and the verdict still stands.
    (project / "memory-baseline.toml").write_text(
        (project / "memory-baseline.toml").read_text() + "\n"
    )
    uncommitted = nox(project, "-R", "-s", "memgate", check=False)
    assert uncommitted.returncode != 0
    assert "no differential flamegraph: memory-baseline.toml has uncommitted changes" in (
        uncommitted.stderr
    )
    assert "memory regression:" in uncommitted.stderr


@pytest.mark.slow
def test_memdiff_compares_the_working_tree_with_a_ref(tmp_path) -> None:
    project = render(tmp_path / "diffed")
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "start")
    growth.grow_workload_total(project, 64 * MIB)  # uncommitted
    growth.grow_workload_peak(project, MIB)  # held to the end: the peak grows by 1 MiB
    result = nox(project, "-s", "memdiff", "--", "HEAD")
    out = result.stderr
    assert re.search(r"workload total allocated: [\d.]+ MiB -> [\d.]+ MiB \(\+\d+\.\d\d%\)", out)
    # The function that grew, named with its line, beside the figure.
    assert re.search(
        r"grew: distinctive_growth_of_the_peak \(my_service/workload\.py:\d+\) \+1\.0\d MiB", out
    )
    assert abs(grown_site(out) - 64) < 0.64  # MiB, bytes objects' headers included
    page = project / "reports" / "memdiff" / "memdiff.html"
    # memdiff's page names its sides ref and now, and marks growth without claiming a failure.
    text = page.read_text()
    assert "<th>ref HEAD</th><th>now</th>" in text
    assert "grew past tolerance" in text
    assert "<td>REGRESSION</td>" not in text
    assert "Memory gate" not in text
    # The differential flamegraph: the function that holds the new buffer is the one frame
    # marked as grown; its callers and everything else are not.
    graph = project / "reports" / "memdiff" / "workload-diff.html"
    assert f"differential flamegraph: {graph}" in out
    marked = re.findall(r'<div class="frame (\w+)"[^>]*data-label="([^"]+)"', graph.read_text())
    grew = [name for kind, name in marked if kind == "grew"]
    assert len(grew) == 1, grew
    assert grew == ["distinctive_growth_of_the_peak (my_service/workload.py)"]
    assert any(kind == "same" and name.startswith("main (") for kind, name in marked)
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", graph.read_text())
    shots = ARTIFACTS / "memdiff"
    shots.mkdir(parents=True, exist_ok=True)
    opened = browse(
        [{"url": path.as_uri(), "texts": ["p.verdict"], "screenshot": str(shots / f"{path.stem}.png")}
         for path in (page, graph)]
    )  # fmt: skip
    for seen in opened:
        assert seen["errors"] == [], seen["url"]
        assert [url for url in seen["requests"] if not url.startswith("file://")] == []
    assert opened[0]["texts"]["p.verdict"][0].startswith(
        "Memory, ref HEAD -> now: 2 figure(s) grew past tolerance"
    )
    assert (
        "worktree"
        not in subprocess.run(
            ["git", "worktree", "list"], cwd=project, capture_output=True, text=True, check=True
        ).stdout.split("\n", 1)[-1]
    )  # the temporary worktree is gone
    bad = nox(project, "-R", "-s", "memdiff", "--", "no-such-ref", check=False)
    assert bad.returncode != 0
    assert "git could not check out 'no-such-ref'" in bad.stderr


@pytest.mark.slow
def test_a_baseline_of_another_environment_is_kept_and_not_compared(tmp_path) -> None:
    project = render(tmp_path / "envs")
    other = baseline.Record({"workload peak": 1}, {"workload peak": 0}, {}, 3)
    baseline.write(project / "memory-baseline.toml", "3.14t-darwin-arm64", other)
    # Without figures for its environment: a warning on a developer's machine, an error in CI.
    local = {key: value for key, value in session_env().items() if key != "CI"}
    result = run([sys.executable, "-m", "nox", "-s", "memgate"], project, env=local)
    assert (
        "memgate compared NOTHING: memory-baseline.toml has no figures for this environment (3.15-"
        in result.stderr
    )
    assert "it has: 3.14t-darwin-arm64" in result.stderr
    in_ci = run([sys.executable, "-m", "nox", "-R", "-s", "memgate"], project,
                env={**local, "CI": "true"}, check=False)  # fmt: skip
    assert in_ci.returncode != 0
    assert "In CI the gate must compare something" in in_ci.stderr
    nox(project, "-R", "-s", "baseline", "--", "--runs", "1")
    records = baseline.read(project / "memory-baseline.toml")
    assert records["3.14t-darwin-arm64"] == other
    assert len(records) == 2


OVER_ITS_LIMIT = """\
import pytest


@pytest.mark.limit_memory("1 MB")
def test_grew_past_its_budget() -> None:
    data = [bytearray(1024 * 1024) for _ in range(3)]
    assert data
"""


@pytest.mark.slow
def test_a_test_over_its_limit_fails_the_gate_with_summary_and_flamegraphs(tmp_path) -> None:
    project = render(tmp_path / "over")
    # Within its budget when the baseline is recorded, then over it: a figure that both
    # regressed and failed its test, named by two messages, whose capture is drawn once.
    (project / "tests" / "test_grown.py").write_text(
        OVER_ITS_LIMIT.replace("1024 * 1024", "64 * 1024")
    )
    nox(project, "-s", "baseline", "--", "--runs", "1")
    (project / "tests" / "test_grown.py").write_text(OVER_ITS_LIMIT)
    result = nox(project, "-R", "-s", "memgate", check=False)
    assert result.returncode != 0
    assert "1 test(s) went over their memory budget" in result.stderr
    assert "Memray WARNING" not in result.stdout + result.stderr  # memray's noise, silenced
    # The whole line, where pytest's short summary cuts it to the terminal's width.
    assert "tests/test_grown.py::test_grew_past_its_budget: limit_memory('1 MB'), peak 3." in (
        result.stderr
    )
    assert "tests/test_grown.py::test_grew_past_its_budget" in result.stderr
    reports = project / "reports" / "memgate"
    assert (reports / "summary.md").is_file()  # the gate still compared the other figures
    summary = (reports / "summary.md").read_text()
    assert "## ❌ Memory gate failed" in summary
    # The test over its budget in the summary, linked to its page, with its limit and what
    # held the most.
    assert re.search(
        r"\| \[test_grew_past_its_budget\]\(gate-tests-test_grown\.py-test_grew_past_its_budget-test"
        r"\.html \"tests/test_grown\.py::test_grew_past_its_budget\"\) \| "
        r"`limit_memory\('1 MB'\)` \| 3\.\d\d MiB \(\+2\.\d\d\) \| "
        r"`tests/test_grown\.py:\d+` \|",
        summary,
    ), summary
    flamegraph = reports / "gate-tests-test_grown.py-test_grew_past_its_budget.html"
    assert flamegraph.is_file()
    assert str(flamegraph) in result.stderr
    # First, memwise's page from the test function (memray's own pages start there too).
    from_test = reports / "gate-tests-test_grown.py-test_grew_past_its_budget-test.html"
    assert str(from_test) in result.stderr
    labels = re.findall(r'data-label="([^"]+)"', from_test.read_text())
    assert labels[:2] == ["all", "test_grew_past_its_budget (tests/test_grown.py)"]
    drawn = [line for line in result.stderr.splitlines()
             if "memwise.views.memray_pages" in line and str(flamegraph) in line]  # fmt: skip
    assert len(drawn) == 1, drawn


@pytest.mark.slow
def test_a_baseline_with_nothing_to_measure_stops_after_its_first_run(tmp_path) -> None:
    # No workload and no budgeted test: the first run says so, the other four are not made
    # (the baseline reads its runs' captures back beside the next run: the check must not wait).
    project = render(tmp_path / "bare", examples=False)
    result = nox(project, "-s", "baseline", check=False)
    assert result.returncode != 0
    assert "nothing to measure: name a workload" in result.stderr, result.stderr[-2000:]
    assert result.stderr.count("measuring, run ") == 1, result.stderr[-2000:]
    assert not (project / "memory-baseline.toml").exists()


@pytest.mark.slow
def test_memgate_and_baseline_shards_add_up_to_one_verdict(tmp_path) -> None:
    project = render_with_committed_baseline(tmp_path / "svc")
    whole = set(tomllib.loads((project / "memory-baseline.toml").read_text())["environments"]
                .popitem()[1]["figures"])  # fmt: skip
    # A baseline of the whole suite does not compare with one group of it: said, and red.
    split = nox(project, "-R", "-s", "memgate", "--", "--shard", "1/2", check=False)
    assert split.returncode != 0
    assert "this run measures as `PYTHONMALLOC=malloc, 2 shards`" in split.stderr, split.stderr
    for index in (1, 2):
        nox(project, "-R", "-s", "baseline", "--", "--runs", "1", "--shard", f"{index}/2")
    (table,) = tomllib.loads((project / "memory-baseline.toml").read_text())[
        "environments"
    ].values()
    assert set(table["figures"]) == whole  # the second shard kept the first one's figures
    assert table["method"] == "PYTHONMALLOC=malloc, 2 shards"
    # Committed, as a team would: a red shard then measures the baseline's commit again.
    git(project, "commit", "-q", "-am", "baseline in 2 shards")

    def gate_in_shards() -> tuple[list[Path], list[subprocess.CompletedProcess[str]]]:
        folders, results = [], []
        for index in (1, 2):
            results.append(
                nox(project, "-R", "-s", "memgate", "--", "--shard", f"{index}/2", check=False)
            )
            folder = tmp_path / f"gate-{index}"
            shutil.rmtree(folder, ignore_errors=True)
            shutil.copytree(project / "reports" / "memgate", folder)
            folders.append(folder)
        return folders, results

    folders, results = gate_in_shards()
    assert [result.returncode for result in results] == [0, 0], results[-1].stderr
    compared = [set(json.loads((f / "gate.json").read_text())["figures"]) for f in folders]
    assert compared[0] | compared[1] == whole  # every figure of the baseline, once
    assert not compared[0] & compared[1]
    merged = nox(project, "-R", "-s", "memreport", "--", *map(str, folders))
    assert f"memgate in 2 shard(s): {len(whole)} figure(s) compared, every shard green" in (
        merged.stderr
    )
    missing = nox(project, "-R", "-s", "memreport", "--", str(folders[0]), check=False)
    assert missing.returncode != 0
    assert "shard 2/2 missing" in missing.stderr
    # A test of the second group grows: that shard is red, and the merge names it.
    grown = next(name for name in sorted(compared[1]) if "[" not in name and name.endswith(" peak"))
    growth.grow_test_peak(project, grown.split("::")[-1].removesuffix(" peak"), 1024 * 1024)
    folders, results = gate_in_shards()
    assert [result.returncode == 0 for result in results] == [True, False]
    merged = nox(project, "-R", "-s", "memreport", "--", *map(str, folders), check=False)
    assert merged.returncode != 0
    short = grown.split("::")[-1]
    assert re.search(rf"shard 2/2: Memory gate failed: {re.escape(short)}", merged.stderr), (
        merged.stderr
    )
    summary = (project / "reports" / "memreport" / "summary.md").read_text()
    assert "### shard 2/2" in summary
    assert f"\n#### ❌ Memory gate failed: {short}" in summary  # a level below "shard 2/2"
    # What grew, with its line, drawn against the baseline's commit as an unsplit gate draws it.
    assert re.search(
        rf"What grew in {re.escape(short)}\*\*:\n- `[^`]*test_memory\.py:\d+", summary
    ), summary
    # As a reviewer meets it: the merge's comment at GitHub's width, and the red shard's page.
    comment = pr_comment.body({"memgate": pr_comment.section("memgate", summary, None, None)})
    page = comment_page(tmp_path / "comment.html", comment)
    shots = ARTIFACTS / "gate-shards"
    shots.mkdir(parents=True, exist_ok=True)
    seen_comment, seen_report = browse([
        {"url": page.as_uri(), "texts": ["h2", "h3", "h4", "th"],
         "viewport": {"width": 800, "height": 900}, "screenshot": str(shots / "comment.png")},
        {"url": (folders[1] / "report.html").as_uri(), "texts": ["p.verdict", "h1"],
         "screenshot": str(shots / "shard-2-report.png")},
    ])  # fmt: skip
    assert seen_comment["texts"]["h2"][0].startswith("❌ memgate in 2 shard(s)")
    assert seen_comment["texts"]["h3"] == ["shard 2/2"]
    assert seen_comment["texts"]["h4"][0].startswith(f"❌ Memory gate failed: {short}")
    assert seen_comment["tops"]["h4"][0] < 900  # the red shard's verdict in the first screen
    # The red shard's table of what failed, every column in view at that width.
    assert seen_comment["texts"]["th"][:4] == ["figure", "change", "baseline → now", "allowed"]
    assert max(seen_comment["rights"]["th"][:4]) <= 800
    assert short in seen_report["texts"]["p.verdict"][0]
    assert seen_report["texts"]["h1"][0].endswith(", shard 2/2")  # which shard's page this is
    assert seen_report["errors"] == []
