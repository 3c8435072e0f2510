"""Report files of the memory sessions: one folder per session, offline HTML, printed paths."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import nox

from memwise.plugin.manifest import function_of_test
from memwise.sizes import mib

MAX_STEM = 200  # file names stop at 255 bytes; room for "-leaks.html"


# The first line of the .gitignore memwise writes into each report folder: a folder that has
# it is memwise's to empty; any other is not touched.
MARK = "# written by memwise: reports are not committed"


def fresh_folder(session: nox.Session, folder: Path) -> Path:
    """An empty report folder, so no report of an earlier run is mistaken for a new one.

    Only what memwise wrote is removed: the folder must carry memwise's mark (or not exist),
    and a file the team committed under it is kept and said. A folder that is a file, or
    cannot be written, stops the session with the fix. The folder ignores itself in git (as
    .pytest_cache does), so the project's .gitignore needs no entry for it.
    """
    try:
        return _empty(session, folder)
    except OSError as error:
        session.error(
            f"memwise cannot write its reports into {folder}: {error.strerror or error} "
            f"({error.filename or folder}). Make that folder writable, or set [tool.memwise] "
            'reports = "<another folder>" in pyproject.toml'
        )


def _empty(session: nox.Session, folder: Path) -> Path:
    for parent in [folder, *folder.parents]:
        if parent.exists() and not parent.is_dir():
            session.error(
                f"{parent} is a file, where memwise writes its reports into the folder "
                f'{folder}: move the file, or set [tool.memwise] reports = "<another folder>" '
                "in pyproject.toml. Nothing was deleted."
            )
    ignore = folder / ".gitignore"
    if folder.is_dir() and any(folder.iterdir()):
        if not (
            ignore.is_file() and ignore.read_text(errors="replace").startswith(MARK)
        ):
            session.error(
                f"{folder} holds files memwise did not write (it has no .gitignore of memwise's), "
                "and memwise empties its report folders before each run. Move them, or set "
                '[tool.memwise] reports = "<another folder>" in pyproject.toml. Nothing was '
                "deleted."
            )
        kept = committed(folder)
        for path in sorted(folder.rglob("*"), reverse=True):
            if (
                path in kept
                or path == ignore
                or (
                    path.is_dir()
                    and not path.is_symlink()
                    and any(k.is_relative_to(path) for k in kept)
                )
            ):
                continue
            path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
        if kept:
            session.warn(
                f"kept {len(kept)} file(s) under {folder} that git tracks (memwise deletes "
                f"only what it wrote): {', '.join(str(p.relative_to(folder)) for p in sorted(kept))}"
            )
    folder.mkdir(parents=True, exist_ok=True)
    ignore.write_text(f"{MARK}\n*\n")
    return folder


def committed(folder: Path) -> set[Path]:
    """The files under ``folder`` that git tracks (none outside a git work tree)."""
    result = subprocess.run(
        ["git", "ls-files", "-z", "--", "."],
        cwd=folder,
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        return set()
    return {folder / name for name in result.stdout.decode().split("\0") if name}


def flamegraphs(
    session: nox.Session,
    capture: Path,
    stem: Path,
    test: str | None = None,
    also: Sequence[Sequence[str]] = (),
    leaks: bool = False,
) -> list[Path]:
    """Self-contained (offline) flamegraphs of a capture: peak memory, and what was not freed;
    for a test's capture (``test``: its node id) first memwise's page from the test function,
    and memray's two pages start there too (the runner's frames folded into one). Each capture
    is drawn once per run, however many messages name it. ``also``: more commands on the
    capture (``memray stats``), run with the drawing.

    A stem too long for a file name with its suffixes (a test id of hundreds of characters)
    is cut and made unique with a digest, as pytest-memray does for captures.
    """
    name = stem.name
    if len(name.encode()) > MAX_STEM:
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        name = name.encode()[: MAX_STEM - 17].decode(errors="ignore") + f"-{digest}"
    peak_page, leaks_page = (
        stem.parent / f"{name}.html",
        stem.parent / f"{name}-leaks.html",
    )
    pages = [stem.parent / f"{name}-test.html"] * (test is not None) + [
        peak_page,
        leaks_page,
    ]
    if all(
        page.is_file() and page.stat().st_mtime >= capture.stat().st_mtime
        for page in pages
    ):
        run_together(session, also)
        return pages  # drawn already in this run (a test both over budget and grown)
    into = ["--no-web", "-f", "-o"]
    commands = [
        ["memray", "flamegraph", *flags, *into, str(page), str(capture)]
        for page, flags in ((peak_page, []), (leaks_page, ["--leaks"]))
    ]
    if test is not None:  # leaks: a limit_leaks test's page shows what it never freed
        function = function_of_test(test)
        # memray's own pages too start at the test function, not in pytest's frames.
        commands = [
            ["python", "-m", "memwise.views.memray_pages", str(capture), str(page),
             "--from", function, *flags]
            for page, flags in ((peak_page, []), (leaks_page, ["--leaks"]))
        ]  # fmt: skip
        what = "what it never freed" if leaks else "memory at its peak"
        commands.append(
            ["python", "-m", "memwise.views.diffgraph", str(capture), str(capture), str(pages[0]),
             "--single", "--from", function, *(["--leaks"] * leaks), "--title",
             f"{test}: {what}, from the test function"]
        )  # fmt: skip
    run_together(session, [*commands, *also])
    return pages


def run_together(session: nox.Session, commands: Sequence[Sequence[str]]) -> None:
    """Run commands that only read one capture all at once, silently.

    Each memray reporter reads the whole capture again (a few seconds for a workload that
    allocates a gigabyte): drawn one after another they took three times the recording. All
    at once, rather than one per core, so that the longest starts first whatever the order.
    The first failure is raised once the others have ended.
    """
    if not commands:
        return
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        done = [pool.submit(session.run, *command, silent=True) for command in commands]
    for future in done:
        future.result()


def listing(paths: list[Path]) -> str:
    """Paths one per line, indented, for the last lines of a session."""
    return "\n".join(f"  {path}" for path in paths)


def source(line: dict[str, Any]) -> str:
    """A profiled line's code; scalene's JSON escapes <, > and & as \\u003c, \\u003e, \\u0026."""
    text = str(line.get("line", "")).strip()
    for escaped, plain in (("\\u003c", "<"), ("\\u003e", ">"), ("\\u0026", "&")):
        text = text.replace(escaped, plain)
    return text


def scalene_top_lines(profile: dict[str, Any], count: int = 5) -> str:
    """The lines that allocated the most memory and took the most time in a scalene profile."""
    lines = [
        (f"{filename}:{line['lineno']}", line)
        for filename, data in profile.get("files", {}).items()
        for line in data.get("lines", [])
    ]

    def memory(line: dict[str, Any]) -> float:
        return float(line.get("n_malloc_mb", 0.0))

    def cpu(line: dict[str, Any]) -> float:
        return float(
            line.get("n_cpu_percent_python", 0.0) + line.get("n_cpu_percent_c", 0.0)
        )

    text = []
    for title, measure in (("memory allocated (MB)", memory), ("time (% of CPU)", cpu)):
        text.append(f"\nTop lines by {title}, from scalene:")
        ranked = sorted(lines, key=lambda item: measure(item[1]), reverse=True)[:count]
        text += [
            f"  {measure(line):8.1f}  {where}  {source(line)}"
            for where, line in ranked
            if measure(line) > 0
        ]
    return "\n".join(text)


def capture_summary(stats: dict[str, Any], count: int = 5) -> str:
    """A capture's peak, its total allocated and its largest allocating locations, from
    ``memray stats --json`` (read from the file rather than running memray's text report,
    which reads the whole capture once more)."""
    peak = mib(int(stats.get("metadata", {}).get("peak_memory", 0)))
    total = mib(int(stats.get("total_bytes_allocated", 0)))
    allocations = int(stats.get("total_num_allocations", 0))
    return ranked_locations(
        f"Peak memory {peak}; {total} allocated in {allocations:,} allocations.",
        f"Top {count} locations by bytes allocated (memray stats):",
        stats.get("top_allocations_by_size", [])[:count],
    )


def peak_summary(peak: dict[str, Any]) -> str:
    """An aggregated capture's peak and the locations that held most of it, from the JSON of
    ``memwise.gate.capture_peak`` (``memray stats`` does not read that format)."""
    sites = peak.get("top_at_peak", [])
    allocations = int(peak.get("allocations_at_peak", 0))
    return ranked_locations(
        f"Peak memory {mib(int(peak.get('peak_memory', 0)))}, "
        f"held in {allocations:,} allocations.",
        f"Top {len(sites)} locations by memory held at the peak:",
        sites,
    )


def ranked_locations(headline: str, title: str, sites: list[dict[str, Any]]) -> str:
    """A summary's lines: a headline, a title, then each location with its size."""
    rows = [f"  {mib(int(site['size'])):>14}  {site['location']}" for site in sites]
    return "\n".join(["", headline, title, *rows])
