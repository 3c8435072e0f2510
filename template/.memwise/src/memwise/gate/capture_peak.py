"""What a memray capture held at its peak, as JSON, for the flamegraph session's summary.

The flamegraph session records memray's aggregated format (``memray run --aggregate``): the
allocations alive at the peak and at exit, which is what its two flamegraphs draw, in a
capture a hundredth the size of one holding every allocation, and drawn in a second rather
than several. ``memray stats`` does not read that format, so this reads the peak with
memray's reader instead. Run in the session's environment (it has memray):
``python -m memwise.gate.capture_peak CAPTURE OUT.json``.

For a capture of every allocation (``--all-allocations``, or one given with ``--capture``)
it writes the format and the peak only: ``memray stats`` says more of those.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

AGGREGATED = "aggregated"
ALL_ALLOCATIONS = "all allocations"
TOP = 5


def summarize(capture: Path, count: int = TOP) -> dict[str, Any]:
    """The capture's format and peak; for an aggregated capture, the locations that held the
    most memory at the peak (a location: the innermost Python frame, as memray stats names it).
    """
    from memray import (  # the session's environment has memray; the noxfile's has not
        FileFormat,
        FileReader,
    )

    reader = FileReader(os.fspath(capture))
    metadata = reader.metadata
    aggregated = metadata.file_format == FileFormat.AGGREGATED_ALLOCATIONS
    held: Counter[str] = Counter()
    allocations = 0
    # An aggregated capture holds a few thousand records; one of every allocation would be
    # replayed for minutes, and memray stats sums it up instead.
    if aggregated:
        for record in reader.get_high_watermark_allocation_records(merge_threads=True):
            frames = record.stack_trace()
            function, file, line = frames[0] if frames else ("<unknown>", "", 0)
            held[f"{function}:{file}:{line}"] += int(record.size)
            allocations += int(record.n_allocations)
    return {
        "format": AGGREGATED if aggregated else ALL_ALLOCATIONS,
        "peak_memory": int(metadata.peak_memory),
        "has_native_traces": bool(metadata.has_native_traces),
        "allocations_at_peak": allocations,
        "top_at_peak": [
            {"location": location, "size": size}
            for location, size in held.most_common(count)
        ],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m memwise.gate.capture_peak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("capture", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args(argv)
    try:
        summary = summarize(args.capture)
    except OSError as error:  # memray's reader: not a capture, or cut short
        raise SystemExit(
            f"{args.capture}: not a memray capture memray can read ({error})"
        ) from None
    args.output.write_text(json.dumps(summary, indent=2) + "\n", "utf-8")


if __name__ == "__main__":
    main()
