"""A differential memory flamegraph: two memray captures of one program, one offline page.

Each frame's width is its memory at the peak (the larger of the two captures', so a frame that
vanished still shows); its colour says how much the memory its own lines held at the peak grew
(red) or shrank (blue) from the first capture to the second. Colour follows a frame's own
allocations, not its children's, so the function that grew is the red one and its callers stay
neutral. Hovering a frame shows both figures. Built on memray's public reader
(``FileReader.get_high_watermark_allocation_records``); run inside an environment that has
memray: ``python -m memwise.views.diffgraph BEFORE.bin AFTER.bin OUT.html``.

The peak only: the total allocated would need every allocation record of both captures
(millions for the example workload), which memray's reader yields one at a time.

Beside the page, ``OUT.json`` lists the frames whose own memory moved most (for a single
capture: held most), each with ``file:line`` (the line of the second capture that held the most
of it): the gate's verdict, its summary and the pull-request comment name them.
"""

from __future__ import annotations

import argparse
import html
import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from memwise.sizes import mib

# A frame is marked when its own memory at the peak moved by more than this share of the
# program's peak, and at least by the gate's absolute floor (`--floor`, from the project's
# absolute-kib; FLOOR, its default, when the page is drawn by hand).
SHARE = 0.005
FLOOR = 16 * 1024
# Frames narrower than this share of the page are folded into their parent.
SMALLEST = 0.002

Stack = tuple[str, ...]  # frame labels, outermost first
SINGLE = ("", "")  # the names of a one-capture page: its tooltips give one figure


@dataclass
class Frame:
    label: str
    before: int = 0  # bytes at the peak, this frame and below
    after: int = 0
    before_own: int = 0  # bytes at the peak allocated by this frame's own lines
    after_own: int = 0
    children: dict[str, Frame] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return max(self.before, self.after)

    @property
    def own_change(self) -> int:
        return self.after_own - self.before_own


def label(function: str, filename: str) -> str:
    """A frame's name on both sides: the function and the last two parts of its file.

    Not the line (code added above a function moves every line below it) and not the full
    path (a ref runs from a temporary worktree, the working tree from the project).
    """
    return f"{function} ({'/'.join(Path(filename).parts[-2:])})"


def from_function(
    stacks: list[tuple[Stack, int]], function: str
) -> list[tuple[Stack, int]]:
    """Each stack cut to start at ``function`` (a test function: the runner's frames above
    it left out); stacks that never reach it (the runner's own memory) are dropped."""
    cut = []
    for stack, size in stacks:
        starts = [i for i, name in enumerate(stack) if name.startswith(f"{function} (")]
        if starts:
            cut.append((stack[starts[0] :], size))
    return cut


Lines = dict[str, Counter[int]]  # frame label -> bytes held at each of its lines


def peak_stacks(
    capture: Path, lines: Lines | None = None, *, leaks: bool = False
) -> list[tuple[Stack, int]]:
    """The allocations alive at the capture's peak (``leaks``: never freed): each stack
    (outermost first) and its bytes. ``lines`` receives, per frame, the bytes held at each of
    its lines (its own line for the innermost frame, the call's line for the others)."""
    from memray import (
        FileReader,  # the session's environment has it; the noxfile's has not
    )

    reader = FileReader(os.fspath(capture))
    records = (
        reader.get_leaked_allocation_records(merge_threads=True)
        if leaks
        else reader.get_high_watermark_allocation_records(merge_threads=True)
    )
    stacks = []
    for record in records:
        frames = list(reversed(record.stack_trace()))
        labels = tuple(label(function, file) for function, file, _ in frames)
        if lines is not None:
            for name, (_, _, line) in zip(labels, frames):
                lines.setdefault(name, Counter())[int(line)] += int(record.size)
        stacks.append((labels or ("<unknown>",), int(record.size)))
    return stacks


def located(name: str, lines: Lines) -> str:
    """A frame's label with the line that held the most of its memory: ``f (a/b.py:12)``."""
    held = lines.get(name)
    if not held or not name.endswith(")"):
        return name
    return f"{name[:-1]}:{held.most_common(1)[0][0]})"


def merge(
    before: Iterable[tuple[Stack, int]], after: Iterable[tuple[Stack, int]]
) -> Frame:
    """One tree of both captures' stacks, each frame with both figures."""
    root = Frame("all")
    for side, stacks in (("before", before), ("after", after)):
        for stack, size in stacks:
            node = root
            setattr(node, side, getattr(node, side) + size)
            for name in stack:
                node = node.children.setdefault(name, Frame(name))
                setattr(node, side, getattr(node, side) + size)
            setattr(node, f"{side}_own", getattr(node, f"{side}_own") + size)
    return root


def threshold(root: Frame, floor: int = FLOOR) -> int:
    return max(int(SHARE * root.before), floor)


def verdict(frame: Frame, limit: int) -> str:
    if frame.own_change > limit:
        return "grew"
    if frame.own_change < -limit:
        return "shrank"
    return "same"


def moved_frames(root: Frame, floor: int = FLOOR) -> list[Frame]:
    """Every frame whose own memory at the peak grew or shrank past the threshold."""
    limit, found, todo = threshold(root, floor), [], list(root.children.values())
    while todo:
        frame = todo.pop()
        if verdict(frame, limit) != "same":
            found.append(frame)
        todo.extend(frame.children.values())
    return sorted(found, key=lambda frame: -abs(frame.own_change))


def signed_mib(size: int) -> str:
    """A change in MiB with its sign, the page's one unit: ``+0.31 MiB``."""
    return f"{size / (1024 * 1024):+.2f} MiB"


def _tooltip(frame: Frame, names: tuple[str, str], shown: str) -> str:
    if names == SINGLE:
        return (
            f"{shown}\n{mib(frame.after)} at the peak\n"
            f"its own lines: {mib(frame.after_own)}"
        )
    return (
        f"{shown}\n{names[0]}: {mib(frame.before)}, {names[1]}: {mib(frame.after)} "
        f"({signed_mib(frame.after - frame.before)})\nits own lines: "
        f"{mib(frame.before_own)} -> {mib(frame.after_own)} ({signed_mib(frame.own_change)})"
    )


def _frame_html(
    frame: Frame,
    parent: int,
    total: int,
    limit: int,
    names: tuple[str, str],
    lines: Lines,
    room: int = 0,
) -> str:
    """A frame and its children. ``room``: the width its label may use, in bytes: its own
    and the empty end of its parent's row beside it (the parent's own memory)."""
    share = 100 * frame.width / parent if parent else 100
    shown = [
        child for child in frame.children.values() if child.width >= SMALLEST * total
    ]
    shown.sort(key=lambda child: -child.width)
    # The last child's label may run on into the row's empty end, so that a narrow frame
    # beside nothing (a helper under a function that holds most itself) is named in full.
    rooms = [child.width for child in shown[:-1]]
    rooms += [frame.width - sum(rooms)] if shown else []
    inner = "".join(
        _frame_html(child, frame.width, total, limit, names, lines, child_room)
        for child, child_room in zip(shown, rooms)
    )
    kind = verdict(frame, limit)
    strength = min(1.0, abs(frame.own_change) / max(total, 1) * 20)
    name = located(frame.label, lines)
    # The size is on the frame (hovering is for both figures): the change where it moved.
    size = (
        signed_mib(frame.own_change)
        if kind != "same" and names != SINGLE
        else mib(frame.width)
    )
    label_width = 100 * max(room, frame.width) / frame.width if frame.width else 100
    return (
        f'<div class="frame {kind}" style="flex-basis:{share:.3f}%;--strength:{strength:.2f}" '
        f'data-label="{html.escape(frame.label)}" '
        f'title="{html.escape(_tooltip(frame, names, name))}">'
        f'<div class="name"><span class="text" style="width:{label_width:.1f}%">'
        f'<span class="size">{size}</span> {html.escape(name)}</span></div>'
        f'<div class="children">{inner}</div></div>'
    )


STYLE = """
body { font: 13px system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: .2em .6em; text-align: left; }
.graph { border: 1px solid #ccc; overflow-x: auto; }
.frame { display: flex; flex-direction: column; flex-grow: 0; flex-shrink: 1;
  min-width: 0; box-sizing: border-box; border: 1px solid #fff; }
.children { display: flex; flex-direction: row; }
.name { padding: 1px 3px; height: 1.3em; direction: ltr; box-sizing: border-box; }
.name > .text { display: block; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.size { font-variant-numeric: tabular-nums; color: #444; }
.found > .name { outline: 2px solid #06c; outline-offset: -2px; }
.search { margin: .5em 0; } .search input { width: 24em; }
.same .name { background: #e8e2d0; }
.grew .name { background: rgb(255, calc(200 - 150 * var(--strength)), calc(190 - 150 * var(--strength))); font-weight: bold; }
.shrank .name { background: rgb(calc(190 - 150 * var(--strength)), calc(210 - 100 * var(--strength)), 255); }
.legend span { padding: 0 .5em; margin-right: 1em; }
"""


SEARCH = """<p class='search'><label>Find a function or file: <input type='search'
id='find' placeholder='e.g. render_report or handler.py'></label> <span id='found'></span></p>
<script>
document.getElementById('find').addEventListener('input', function (event) {
  var text = event.target.value.toLowerCase(), count = 0;
  document.querySelectorAll('.frame').forEach(function (frame) {
    var hit = text !== '' && frame.dataset.label.toLowerCase().indexOf(text) >= 0;
    frame.classList.toggle('found', hit);
    if (hit) { count += 1; }
  });
  document.getElementById('found').textContent = text ? count + ' frame(s)' : '';
});
</script>"""


def culprits(
    root: Frame, lines: Lines, count: int = 10, floor: int = FLOOR
) -> list[dict[str, object]]:
    """The frames whose own memory at the peak grew past the threshold, most first."""
    limit = threshold(root, floor)
    grown = [frame for frame in moved_frames(root, floor) if frame.own_change > limit]
    return [
        {
            "frame": located(frame.label, lines),
            "before": frame.before_own,
            "after": frame.after_own,
            "change": frame.own_change,
        }
        for frame in grown[:count]
    ]


def holders(root: Frame, lines: Lines, count: int = 5) -> list[dict[str, object]]:
    """The frames whose own lines held the most at the peak (one capture)."""
    frames, todo = [], list(root.children.values())
    while todo:
        frame = todo.pop()
        frames.append(frame)
        todo.extend(frame.children.values())
    frames.sort(key=lambda frame: -frame.after_own)
    return [
        {"frame": located(frame.label, lines), "held": frame.after_own}
        for frame in frames[:count]
        if frame.after_own > 0
    ]


def page(
    root: Frame,
    title: str,
    names: tuple[str, str],
    single: bool = False,
    lines: Lines | None = None,
    note: str = "",
    floor: int = FLOOR,
) -> str:
    lines = lines or {}
    if single:
        return single_page(root, title, lines, note)
    limit = threshold(root, floor)
    moved = moved_frames(root, floor)
    rows = "".join(
        f"<tr class='{verdict(frame, limit)}'><td>{html.escape(located(frame.label, lines))}</td>"
        f"<td>{mib(frame.before_own)}</td><td>{mib(frame.after_own)}</td>"
        f"<td>{signed_mib(frame.own_change)}</td></tr>"
        for frame in moved[:15]
    )
    table = (
        f"<table><tr><th>function (file:line)</th><th>its own memory at the peak, "
        f"{html.escape(names[0])}</th><th>{html.escape(names[1])}</th><th>change</th></tr>"
        f"{rows}</table>"
        if moved
        else "<p>No frame's own memory at the peak moved past the threshold.</p>"
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>Memory at the peak: {html.escape(names[0])} {mib(root.before)}, "
        f"{html.escape(names[1])} {mib(root.after)}. {html.escape(note)} The table names the "
        "functions whose own lines held more (or less) at the peak, with the line that held "
        "the most; in the drawing, each frame's width is its memory at the peak (the larger "
        f"of the two), its colour how its own lines' memory moved: more than {mib(limit)} "
        "(0.5% of the peak, at least 16 KiB). Hover a frame for both figures. The peak is the "
        "moment the program held the most (memray's high-water mark). CPython reuses freed "
        "blocks of small objects (tuples, small lists, free lists): growth in such objects can "
        "be charged to the function that first allocated the block; the call-site table of "
        "the gate's report is the second opinion.</p>"
        "<p class='legend'><span class='grew' style='--strength:1'><span class='name'>grew"
        "</span></span><span class='shrank' style='--strength:1'><span class='name'>shrank"
        "</span></span>"
        "<span class='same'><span class='name'>about the same</span></span></p>"
        f"{table}{SEARCH}<div class='graph'>"
        f"{_frame_html(root, root.width, root.width, limit, names, lines)}</div></body></html>"
    )


def single_page(root: Frame, title: str, lines: Lines, note: str = "") -> str:
    """One capture's memory at the peak, no comparison: the same drawing, one colour."""
    rows = "".join(
        f"<tr><td>{html.escape(str(entry['frame']))}</td><td>{mib(int(str(entry['held'])))}</td></tr>"
        for entry in holders(root, lines)
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>Memory at the peak: {mib(root.after)}. {html.escape(note)} Each frame's width is "
        "the memory its calls held (memray's high-water mark, the most held at one moment); "
        "hover a frame for its figures. memray's own flamegraphs of the same capture, beside "
        "this page, show every frame, the runner's included.</p>"
        + (
            "<table><tr><th>function (file:line) whose own lines held the most</th>"
            f"<th>held</th></tr>{rows}</table>"
            if rows
            else ""
        )
        + SEARCH
        + "<div class='graph'>"
        + _frame_html(root, root.width, root.width, root.width + 1, SINGLE, lines)
        + "</div></body></html>"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m memwise.views.diffgraph", description=__doc__.splitlines()[0]
    )
    parser.add_argument("before", type=Path, help="the first capture (e.g. the ref's)")
    parser.add_argument(
        "after", type=Path, help="the second capture (e.g. the working tree's)"
    )
    parser.add_argument("output", type=Path, help="the HTML page to write")
    parser.add_argument("--title", default="Differential memory flamegraph")
    parser.add_argument(
        "--names", nargs=2, default=("before", "after"), metavar=("A", "B")
    )
    parser.add_argument(
        "--from",
        dest="start",
        metavar="FUNCTION",
        help="start every stack at this function (a test's): the runner's frames left out",
    )
    parser.add_argument(
        "--floor",
        type=int,
        default=FLOOR,
        metavar="BYTES",
        help="a frame is marked only when it moved by at least this much (the gate's "
        f"absolute-kib; default {FLOOR})",
    )
    parser.add_argument(
        "--single",
        action="store_true",
        help="draw AFTER alone (BEFORE is ignored): a flamegraph, no comparison",
    )
    parser.add_argument(
        "--leaks",
        action="store_true",
        help="with --single: what was never freed, instead of memory at the peak",
    )
    args = parser.parse_args(argv)
    if args.floor < 0:
        parser.error(f"--floor must be a number of bytes, 0 or more: {args.floor}")
    lines: Lines = {}
    after = peak_stacks(args.after, lines, leaks=args.leaks)
    before = [] if args.single else peak_stacks(args.before)
    whole = (sum(size for _, size in before), sum(size for _, size in after))
    note = ""
    if args.start:
        before, after = (
            from_function(before, args.start),
            from_function(after, args.start),
        )
        kept = (sum(size for _, size in before), sum(size for _, size in after))
        note = (
            f"From the test function {args.start} down: "
            + (
                f"{mib(kept[1])} of the {mib(whole[1])} held at the peak"
                if args.single
                else f"{mib(kept[0])} and {mib(kept[1])} of the {mib(whole[0])} and "
                f"{mib(whole[1])} held at the peak"
            )
            + " (the rest is pytest's, its fixtures' and the interpreter's: the gate's "
            "figure is the whole peak)."
        )
    tree = merge(after if args.single else before, after)
    args.output.write_text(
        page(tree, args.title, tuple(args.names), args.single, lines, note, args.floor),
        encoding="utf-8",
    )
    found = (
        {"held": holders(tree, lines)}
        if args.single
        else {
            "culprits": culprits(tree, lines, floor=args.floor),
            "before": whole[0],
            "after": whole[1],
        }
    )
    args.output.with_suffix(".json").write_text(
        json.dumps(found, indent=1) + "\n", "utf-8"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
