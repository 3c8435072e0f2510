"""Growth injected into a default render's code, one kind of gate figure at a time.

The gate tests and the noise study (benchmarks/gate_noise.py) use the same injections, each
in a function or line of its own so a message can be checked for naming it. Sizes are bytes:
the caller computes them from the baseline's figure (e.g. 2% of it).
"""

from __future__ import annotations

import re
from pathlib import Path

WORKLOAD = Path("src/my_service/workload.py")
MEMORY_TESTS = Path("tests/test_memory.py")
# The example's tests whose peaks the noise study follows: about 2 and 4 MiB.
SMALL_TEST = "test_streaming_every_order_stays_flat_as_the_table_grows"
LARGE_TEST = "test_cache_memory_stays_within_its_byte_bound"
SMALL_TEST_FIGURE = f"tests/test_memory.py::{SMALL_TEST}[200k-orders] peak"
LARGE_TEST_FIGURE = f"tests/test_memory.py::{LARGE_TEST} peak"

_TOTAL = """

def distinctive_growth_of_the_total() -> int:
    # {size} bytes more allocated by the workload, in 64 KiB pieces, each freed at once.
    total = 0
    for _ in range({pieces}):
        total += len(bytes(64 * 1024))
    return total
"""

_PEAK = """

def distinctive_growth_of_the_peak() -> bytearray:
    # {size} bytes held from start to end: the workload's peak grows by as much.
    return bytearray({size})
"""


def _edit_main(project: Path, function: str, call: str) -> None:
    path = project / WORKLOAD
    text = path.read_text()
    grown = text.replace("\n\ndef main(", function + "\n\ndef main(").replace(
        "    args = parser.parse_args(argv)\n", f"    args = parser.parse_args(argv)\n    {call}\n"
    )
    assert grown.count(call.split("= ")[-1].split("(")[0]) == 2, "the workload changed shape"
    path.write_text(grown)


def grow_workload_total(project: Path, size: int) -> None:
    """The workload allocates ``size`` bytes more in all (a multiple of 64 KiB, at least one)."""
    pieces = max(1, round(size / (64 * 1024)))
    _edit_main(
        project,
        _TOTAL.format(size=pieces * 64 * 1024, pieces=pieces),
        "distinctive_growth_of_the_total()",
    )


def grow_workload_peak(project: Path, size: int) -> None:
    """The workload holds ``size`` bytes more from start to end, so its peak grows by that."""
    _edit_main(project, _PEAK.format(size=size), "held = distinctive_growth_of_the_peak()")


def grow_test_peak(project: Path, test: str, size: int) -> None:
    """The named test of tests/test_memory.py holds ``size`` bytes more for its whole run."""
    path = project / MEMORY_TESTS
    text = path.read_text()
    pattern = re.compile(rf"^((?:async )?def {test}\(.*\) -> None:\n)", re.MULTILINE)
    grown, count = pattern.subn(
        rf"\1    distinctive_growth = bytearray({size})  # held to the end\n", text
    )
    assert count == 1, f"no test {test} in {path}"
    path.write_text(grown)
