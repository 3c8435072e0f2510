"""The verdict a developer reads when the gate is red: what grew, by how much, and where, in
its first lines; real memray captures of a helper that grew, drawn by memwise.views.diffgraph."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest
from memwise.gate import rules
from memwise.views import diffgraph, memray_pages, verdict

from tests.helpers import (
    ARTIFACTS,
    TOOLKIT,
    TOOLKIT_PATH,
    browse,
    comment_page,
    memray_page_tree,
    nox,
    render_with_committed_baseline,
)

TOOLKIT_SRC = TOOLKIT / "src"

MIB = 1024 * 1024
TOLERANCE = rules.Tolerance(0.01, 16 * 1024, 4.0)

PROGRAM = """
import sys
from memray import Tracker

KEPT = []


def report_scratch(size):
    KEPT.append(bytearray(size))  # the line that holds the growth


def render_report(size):
    report_scratch(size)
    KEPT.append(bytearray(2 * 1024 * 1024))


with Tracker(sys.argv[1], native_traces=False):
    render_report(int(sys.argv[2]))
"""


def capture(folder: Path, name: str, scratch: int) -> Path:
    program = folder / "service.py"
    program.write_text(PROGRAM)
    path = folder / f"{name}.bin"
    subprocess.run([sys.executable, str(program), str(path), str(scratch)], check=True,
                   env={"PYTHONPATH": TOOLKIT_PATH, "PYTHONMALLOC": "malloc"})  # fmt: skip
    return path


def test_the_differential_capture_names_the_helper_and_its_line(tmp_path: Path) -> None:
    before = capture(tmp_path, "before", 64 * 1024)
    after = capture(tmp_path, "after", 64 * 1024 + 320 * 1024)
    page = tmp_path / "workload_peak-diff.html"
    diffgraph.main([str(before), str(after), str(page), "--names", "baseline", "now"])
    line = (
        PROGRAM.splitlines().index(
            "    KEPT.append(bytearray(size))  # the line that holds the growth"
        )
        + 1
    )
    found = json.loads(page.with_suffix(".json").read_text())
    assert found["culprits"][0]["frame"] == f"report_scratch (t/service.py:{line})".replace(
        "t/", f"{tmp_path.name}/"
    )
    assert abs(found["culprits"][0]["change"] - 320 * 1024) < 1024
    # The frame that did not change is never a culprit (render_report's own 2 MiB).
    assert [c["frame"] for c in found["culprits"]] == [found["culprits"][0]["frame"]]
    text = page.read_text()
    assert f"service.py:{line})" in text  # file:line on the page
    assert "+0.31 MiB" in text  # sizes shown, one unit
    assert " bytes" not in re.sub(r"<[^>]+>", "", text)
    assert "id='find'" in text  # search


@pytest.mark.parametrize("leaks", [False, True], ids=["peak", "leaks"])
def test_memrays_own_page_of_a_test_starts_at_the_test_function(
    tmp_path: Path, leaks: bool
) -> None:
    # The program's module stands for pytest's frames above a test function (render_report).
    page = tmp_path / "test.html"
    arguments = [str(capture(tmp_path, "test", 320 * 1024)), str(page), "--from", "render_report"]
    assert memray_pages.main(arguments + ["--leaks"] * leaks) == 0
    first_row, _ = memray_page_tree(page)
    assert "render_report" in first_row
    assert set(first_row) <= {"render_report", memray_pages.OUTSIDE[0]}, first_row
    assert "report_scratch" in page.read_text()  # the helper below it is still drawn


@pytest.mark.slow  # a headless browser
@pytest.mark.parametrize("width", [800, 1366])
def test_no_label_of_a_flamegraph_is_cut_where_its_frame_has_room(
    tmp_path: Path, width: int
) -> None:
    before = capture(tmp_path, "before", 64 * 1024)
    after = capture(tmp_path, "after", 64 * 1024 + 320 * 1024)
    pages = [tmp_path / "diff.html", tmp_path / "single.html"]
    diffgraph.main([str(before), str(after), str(pages[0]), "--names", "baseline", "now"])
    diffgraph.main([str(after), str(after), str(pages[1]), "--single"])
    shots = ARTIFACTS / "verdict"
    shots.mkdir(parents=True, exist_ok=True)
    seen = browse([{"url": page.as_uri(), "cut": [".frame .name, .frame .text"],
                    "viewport": {"width": width, "height": 900},
                    "screenshot": str(shots / f"labels-{page.stem}-{width}.png")}
                   for page in pages])  # fmt: skip
    for page in seen:
        cut = page["cut"][".frame .name, .frame .text"]
        # A label may be cut only where it has no room for its text (its padding aside).
        assert [label for label in cut if label["room"] >= label["needs"] + 8] == [], cut
        # The frames that matter are wide: the helper's label is whole.
        assert not [label for label in cut if "report_scratch" in label["text"]], cut


def test_with_another_memray_the_test_page_is_memrays_own_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if the installed memray were not one the adapter was tested with.
    monkeypatch.setattr(memray_pages, "TESTED", ((1, 0), (1, 0)))
    page = tmp_path / "test.html"
    arguments = [str(capture(tmp_path, "test", 320 * 1024)), str(page), "--from", "render_report"]
    assert memray_pages.main(arguments) == 0
    assert memray_page_tree(page)[0] == ["&lt;module&gt;"]  # from the runner down
    assert "is not a version memwise has drawn test pages with (1.0 to 1.0)" in page.read_text()


def comparisons() -> list[rules.Comparison]:
    figures = {
        "workload peak": (3_300_000, 3_630_000),  # +10%
        "tests/test_memory.py::test_bulk_load[200k-orders] peak": (330_000, 660_000),  # 2x
        "tests/test_memory.py::test_cache_stays_bounded peak": (4_280_000, 4_280_100),
        "workload total allocated": (1_372_000_000, 1_372_100_000),
        "tests/test_memory.py::test_lean peak": (9_000_000, 8_000_000),  # shrank
    }
    return [
        rules.Comparison(name, before, now, TOLERANCE.limit(name, before, 0))
        for name, (before, now) in figures.items()
    ]


def red() -> verdict.Verdict:
    graphs = {"workload peak": "workload_peak-diff.html",
              "tests/test_memory.py::test_bulk_load[200k-orders] peak": "bulk-diff.html"}  # fmt: skip
    helper = verdict.Culprit("report_scratch (my_service/handler.py:35)", 330_000)
    culprits = {name: [helper] for name in graphs}
    return verdict.Verdict(comparisons(), TOLERANCE, "3.15-linux-x86_64", (), culprits, graphs)


def test_the_summary_leads_with_the_worst_figure_and_its_culprit() -> None:
    text = verdict.markdown(red())
    first = text.splitlines()[:12]
    assert (
        first[0]
        == "## ❌ Memory gate failed: test_bulk_load[200k-orders] peak +0.31 MiB (+100.00%) (and 1 more)"
    )
    # Failing figures first, most growth first; their culprit's file:line and change.
    table = [line for line in first if line.startswith("| [")]
    assert table[0].startswith("| [test_bulk_load\\[200k-orders\\] peak](bulk-diff.html")
    assert table[1].startswith("| [workload peak](workload_peak-diff.html")
    assert "- `report_scratch (my_service/handler.py:35)` +0.31 MiB" in first
    # No figure within tolerance above the fold; each one inside the <details> block.
    main, folded = text.split("<details>", 1)
    assert "test_cache_stays_bounded" not in main
    assert "tests/test_memory.py::test_cache_stays_bounded peak" in folded
    # A figure that shrank is said once, with what to do.
    assert text.count("shrank past their tolerance") == 1
    assert "record a new baseline" in text


def test_the_comment_fits_one_screen_for_a_one_figure_regression() -> None:
    one = [c for c in comparisons() if "bulk_load" in c.name or c.status != "REGRESSION"]
    name = "tests/test_memory.py::test_bulk_load[200k-orders] peak"
    helper = verdict.Culprit("report_scratch (my_service/handler.py:35)", 330_000)
    text = verdict.markdown(verdict.Verdict(one, TOLERANCE, "3.15-linux-x86_64", (),
                                            {name: [helper]}, {name: "bulk-diff.html"}))  # fmt: skip
    above_the_fold = text.split("<details>", 1)[0].strip().splitlines()
    assert len(above_the_fold) <= 12
    # At GitHub's comment width (about 100 characters of table), no row of the main table is
    # wider than it outside its link target.
    rows = [re.sub(r"\]\([^)]*\)", "]", line) for line in above_the_fold if line.startswith("|")]
    assert max(len(row) for row in rows) <= 100, rows


def test_the_terminal_names_the_helper_first() -> None:
    lines = verdict.terminal(red(), Path("reports/memgate")).splitlines()
    assert lines[0].startswith("Memory gate failed: test_bulk_load[200k-orders] peak +0.31 MiB")
    assert lines[2] == "      grew: report_scratch (my_service/handler.py:35) +0.31 MiB"
    assert "drawn: reports/memgate/bulk-diff.html" in lines[3]


def test_the_page_shows_the_culprit_before_the_fold() -> None:
    page = verdict.report_page(red(), "Memory gate: 3.15-linux-x86_64")
    first, fold = page.split("<div class='fold'>", 1)
    assert "report_scratch (my_service/handler.py:35)" in first
    assert "test_cache_stays_bounded" not in first
    assert "test_cache_stays_bounded" in fold


def test_the_call_site_table_keeps_only_what_grew_past_the_tolerance() -> None:
    before = {"render_report (src/svc/handler.py)": 11_420_000, "dumps (json/__init__.py)": 800}
    after = {
        "render_report (src/svc/handler.py)": 11_420_100,  # +100 bytes: did not change
        "dumps (json/__init__.py)": 800,
        "report_scratch (src/svc/handler.py)": 330_000,  # new
    }
    grown = rules.grown_sites(before, after, more_than=16 * 1024)
    assert [site.site for site in grown] == ["report_scratch (src/svc/handler.py)"]
    assert rules.grown_sites(before, before, more_than=0) == []


def test_memdiff_marks_only_what_grew() -> None:
    memdiff = verdict.Verdict(comparisons(), TOLERANCE, "ref main -> now", before="ref main",
                              judged=False)  # fmt: skip
    page = verdict.report_page(memdiff, "Memory: ref main -> now")
    marked = re.findall(r"<tr class='grew'><td title='([^']+)'", page)
    assert sorted(marked) == sorted(
        ["workload peak", "tests/test_memory.py::test_bulk_load[200k-orders] peak"]
    )
    assert "<th>ref main</th>" in page
    assert "`" not in re.sub(r"<code>.*?</code>", "", page)  # no Markdown left in HTML


# --- a red gate, read where a developer looks (slow: real sessions in a render) ----------------

HELPER = """_SCRATCH: list[bytearray] = []


def report_scratch() -> None:
    _SCRATCH[:] = [bytearray(320 * 1024)]  # a buffer kept alive between reports


def render_report("""


@pytest.mark.slow
def test_a_helper_that_grew_is_named_with_its_line_everywhere_a_developer_looks(
    tmp_path: Path,
) -> None:
    project = render_with_committed_baseline(tmp_path / "svc")
    handler = project / "src" / "my_service" / "handler.py"
    text = handler.read_text()
    grown = text.replace("def render_report(", HELPER, 1).replace(
        '    """A customer\'s report: their total and their first ``rows`` orders, as JSON."""\n',
        '    """A customer\'s report: their total and their first ``rows`` orders, as JSON."""\n'
        "    report_scratch()\n",
        1,
    )
    assert grown.count("report_scratch()") == 2
    handler.write_text(grown)
    line = (
        grown.splitlines().index(
            "    _SCRATCH[:] = [bytearray(320 * 1024)]  # a buffer kept alive between reports"
        )
        + 1
    )
    culprit = f"report_scratch (my_service/handler.py:{line})"
    # A grown total names its call site from the project's root: src/my_service/...
    either = re.compile(rf"report_scratch \((src/)?my_service/handler\.py:{line}\)")
    result = nox(project, "-R", "-s", "memgate", check=False)
    assert result.returncode != 0
    # The terminal: the verdict's first lines name the helper, its line and the percent.
    said = result.stderr.split("Session memgate aborted: ", 1)[1].splitlines()
    assert re.match(r"Memory gate failed: .* \+[\d.]+ MiB \(\+[\d.]+%\)", said[0]), said[:3]
    assert f"grew: {culprit} +0.6" in "\n".join(said[:8]), said[:8]
    assert either.search(said[2]), said[:3]
    reports = project / "reports" / "memgate"
    summary = (reports / "summary.md").read_text()
    assert f"`{culprit}` +0.6" in "\n".join(summary.splitlines()[:15]), summary[:1500]
    assert re.search(r"\(\+[\d.]+%\)", summary.splitlines()[0])
    # The comment, as GitHub shows it (its comment column is about 760 px wide).
    sys.path.insert(0, str(TOOLKIT_SRC))
    from memwise.views import pr_comment

    artifact = "https://github.com/acme/billing/actions/runs/1/artifacts/2"
    comment = pr_comment.body(
        {"memgate": pr_comment.section("memgate", summary, artifact, artifact)}
    )
    assert not re.findall(r"\]\((?!https?://)", comment)
    page = comment_page(tmp_path / "comment.html", comment)
    shots = ARTIFACTS / "verdict"
    shots.mkdir(parents=True, exist_ok=True)
    seen_comment, seen_report = browse([
        {"url": page.as_uri(), "texts": ["h2", "li code", "details", "th"],
         "viewport": {"width": 800, "height": 900}, "screenshot": str(shots / "comment.png")},
        {"url": (reports / "report.html").as_uri(), "texts": ["p.verdict", "ul.culprits li"],
         "screenshot": str(shots / "report.png")},
    ])  # fmt: skip
    assert seen_comment["texts"]["h2"][0].startswith("❌ Memory gate failed")
    assert either.fullmatch(seen_comment["texts"]["li code"][0])
    # What failed and why fits the first screen; the figures within tolerance are folded.
    assert seen_comment["tops"]["details"][0] < 900
    assert seen_comment["tops"]["li code"][0] < 900
    # Every column of the main table in view at that width, "allowed" included.
    assert seen_comment["texts"]["th"][:4] == ["figure", "change", "baseline → now", "allowed"]
    assert max(seen_comment["rights"]["th"][:4]) <= 800
    assert either.match(seen_report["texts"]["ul.culprits li"][0])
    assert seen_report["tops"]["ul.culprits li"][0] < 900
    assert seen_report["errors"] == []


def test_memtests_summary_links_each_test_over_budget_to_its_page(tmp_path: Path) -> None:
    # A parameter id with a space and parentheses, as pytest-memray keeps it in the file name.
    nodeid = "tests/test_over.py::test_loads_the_whole_table_at_once[orders 200k (cold)]"
    page = "memtest-tests-test_over.py-test_loads_the_whole_table_at_once[orders 200k (cold)]-test.html"
    over = verdict.OverBudget(nodeid, "limit_memory('1 MB')", 3 * MIB, None, (page,))
    text = verdict.markdown(
        verdict.Verdict((), None, "Python 3.15 on linux", over_budget=[over], name="memtest")
    )
    (row,) = [line for line in text.splitlines() if line.startswith("| ") and "MiB" in line]
    assert row.startswith("| [test_loads_the_whole_table_at_once\\[orde…]("), row
    # As a Markdown reader makes it: one link, to that file, the full id on hover.
    from markdown_it import MarkdownIt  # the suite's own dependency

    (link,) = re.findall(r'<a href="([^"]+)" title="([^"]+)">', MarkdownIt().render(row))
    assert (tmp_path / unquote(link[0])).name == page
    assert link[1] == nodeid


@pytest.mark.slow  # a headless browser
def test_memtests_comment_of_a_test_over_budget_fits_githubs_width(tmp_path: Path) -> None:
    over = verdict.OverBudget(
        "tests/test_over.py::test_loads_the_whole_table_at_once", "limit_memory('1 MB')",
        3 * MIB, "test_loads_the_whole_table_at_once (tests/test_over.py:6), 3.00 MiB",
    )  # fmt: skip
    text = verdict.markdown(
        verdict.Verdict((), None, "Python 3.15 on linux", over_budget=[over], name="memtest")
    )
    heading = text.splitlines()[0]
    assert heading.startswith("## ❌ memtest failed: test_loads_the_whole_table_at_once over")
    assert "over by 2.00 MiB" in heading
    page = comment_page(tmp_path / "comment.html", text)
    shots = ARTIFACTS / "verdict"
    shots.mkdir(parents=True, exist_ok=True)
    (seen,) = browse([{"url": page.as_uri(), "texts": ["h2", "th", "td code"],
                       "viewport": {"width": 800, "height": 900},
                       "screenshot": str(shots / "memtest-comment.png")}])  # fmt: skip
    # Every column in view at GitHub's comment width, the line that held the most among them.
    assert seen["texts"]["th"][-1] == "held most at"
    assert max(seen["rights"]["th"]) <= 800
    assert "tests/test_over.py:6" in seen["texts"]["td code"]
    assert seen["tops"]["th"][0] < 300  # the heading takes two or three lines, not a screen
