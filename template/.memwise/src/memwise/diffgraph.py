"""A differential memory flamegraph: two memray captures of one program, one offline page.

Each frame's width is its memory at the peak (the larger of the two captures', so a frame that
vanished still shows); its colour says how much the memory its own lines held at the peak grew
(red) or shrank (blue) from the first capture to the second. Colour follows a frame's own
allocations, not its children's, so the function that grew is the red one and its callers stay
neutral. Hovering a frame shows both figures. Built on memray's public reader
(``FileReader.get_high_watermark_allocation_records``); run inside an environment that has
memray: ``python -m memwise.diffgraph BEFORE.bin AFTER.bin OUT.html``.

The peak only: the total allocated would need every allocation record of both captures
(millions for the example workload), which memray's reader yields one at a time.
"""

from __future__ import annotations

import argparse
import html
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from memwise.sizes import mib

# A frame is marked when its own memory at the peak moved by more than this share of the
# program's peak, and at least by FLOOR bytes (the gate's absolute floor).
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


def peak_stacks(capture: Path) -> list[tuple[Stack, int]]:
    """The allocations alive at the capture's peak: each stack (outermost first) and its bytes."""
    from memray import (
        FileReader,  # the session's environment has it; the noxfile's has not
    )

    reader = FileReader(os.fspath(capture))
    stacks = []
    for record in reader.get_high_watermark_allocation_records(merge_threads=True):
        frames = record.stack_trace()
        labels = tuple(label(function, file) for function, file, _ in reversed(frames))
        labels = labels or ("<unknown>",)
        stacks.append((labels, int(record.size)))
    return stacks


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


def threshold(root: Frame) -> int:
    return max(int(SHARE * root.before), FLOOR)


def verdict(frame: Frame, limit: int) -> str:
    if frame.own_change > limit:
        return "grew"
    if frame.own_change < -limit:
        return "shrank"
    return "same"


def moved_frames(root: Frame) -> list[Frame]:
    """Every frame whose own memory at the peak grew or shrank past the threshold."""
    limit, found, todo = threshold(root), [], list(root.children.values())
    while todo:
        frame = todo.pop()
        if verdict(frame, limit) != "same":
            found.append(frame)
        todo.extend(frame.children.values())
    return sorted(found, key=lambda frame: -abs(frame.own_change))


def _tooltip(frame: Frame, names: tuple[str, str]) -> str:
    if names == SINGLE:
        return (
            f"{frame.label}\n{mib(frame.after)} at the peak\n"
            f"its own lines: {mib(frame.after_own)}"
        )
    change = frame.after - frame.before
    own = frame.own_change
    return (
        f"{frame.label}\n{names[0]}: {mib(frame.before)}, {names[1]}: {mib(frame.after)} "
        f"({change:+,} bytes)\nits own lines: {mib(frame.before_own)} -> "
        f"{mib(frame.after_own)} ({own:+,} bytes)"
    )


def _frame_html(
    frame: Frame, parent: int, total: int, limit: int, names: tuple[str, str]
) -> str:
    share = 100 * frame.width / parent if parent else 100
    shown = [
        child for child in frame.children.values() if child.width >= SMALLEST * total
    ]
    shown.sort(key=lambda child: -child.width)
    inner = "".join(
        _frame_html(child, frame.width, total, limit, names) for child in shown
    )
    kind = verdict(frame, limit)
    strength = min(1.0, abs(frame.own_change) / max(total, 1) * 20)
    return (
        f'<div class="frame {kind}" style="flex-basis:{share:.3f}%;--strength:{strength:.2f}" '
        f'data-label="{html.escape(frame.label)}" title="{html.escape(_tooltip(frame, names))}">'
        f'<div class="name">{html.escape(frame.label)}</div>'
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
.name { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; padding: 1px 3px;
  height: 1.3em; }
.same .name { background: #e8e2d0; }
.grew .name { background: rgb(255, calc(200 - 150 * var(--strength)), calc(190 - 150 * var(--strength))); font-weight: bold; }
.shrank .name { background: rgb(calc(190 - 150 * var(--strength)), calc(210 - 100 * var(--strength)), 255); }
.legend span { padding: 0 .5em; margin-right: 1em; }
"""


def page(root: Frame, title: str, names: tuple[str, str], single: bool = False) -> str:
    if single:
        return single_page(root, title)
    limit = threshold(root)
    moved = moved_frames(root)
    rows = "".join(
        f"<tr class='{verdict(frame, limit)}'><td>{html.escape(frame.label)}</td>"
        f"<td>{mib(frame.before_own)}</td><td>{mib(frame.after_own)}</td>"
        f"<td>{frame.own_change:+,} bytes</td></tr>"
        for frame in moved[:15]
    )
    table = (
        f"<table><tr><th>frame</th><th>its own memory at the peak, {html.escape(names[0])}</th>"
        f"<th>{html.escape(names[1])}</th><th>change</th></tr>{rows}</table>"
        if moved
        else "<p>No frame's own memory at the peak moved past the threshold.</p>"
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>Memory at the peak: {html.escape(names[0])} {mib(root.before)}, "
        f"{html.escape(names[1])} {mib(root.after)}. Each frame's width is its memory at the "
        "peak (the larger of the two); its colour says how its own lines' memory at the peak "
        f"moved: more than {mib(limit)} (0.5% of the peak, at least 16 KiB). Hover a frame "
        "for both figures. The peak is the moment the whole program held the most (memray's "
        'high-water mark), as in the gate\'s "workload peak".</p>'
        "<p class='legend'><span class='grew' style='--strength:1'><span class='name'>grew"
        "</span></span><span class='shrank' style='--strength:1'><span class='name'>shrank"
        "</span></span>"
        "<span class='same'><span class='name'>about the same</span></span></p>"
        f"{table}<div class='graph'>"
        f"{_frame_html(root, root.width, root.width, limit, names)}</div></body></html>"
    )


def single_page(root: Frame, title: str) -> str:
    """One capture's memory at the peak, no comparison: the same drawing, one colour."""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>Memory at the peak: {mib(root.after)}. Each frame's width is the memory its "
        "calls held at the peak (memray's high-water mark, the most held at one moment); "
        "hover a frame for its figures. memray's own flamegraphs of the same capture, beside "
        "this page, show every frame, the runner's included.</p>"
        f"<div class='graph'>{_frame_html(root, root.width, root.width, root.width + 1, SINGLE)}"
        "</div></body></html>"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m memwise.diffgraph", description=__doc__.splitlines()[0]
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
        "--single",
        action="store_true",
        help="draw AFTER alone (BEFORE is ignored): a flamegraph, no comparison",
    )
    args = parser.parse_args(argv)
    after = peak_stacks(args.after)
    before = [] if args.single else peak_stacks(args.before)
    if args.start:
        before, after = (
            from_function(before, args.start),
            from_function(after, args.start),
        )
    tree = merge(after if args.single else before, after)
    args.output.write_text(
        page(tree, args.title, tuple(args.names), single=args.single), encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
