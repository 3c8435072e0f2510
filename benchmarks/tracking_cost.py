"""What memray costs on SQLite work with no Tracker per test: the floor under memtest's ratio.

Usage: python benchmarks/tracking_cost.py [--runs 5] [--tests 60]
(run it with a Python that has memray, e.g. a memwise project's .nox/memwise-memory-*/bin/python)

memtest measures unmarked tests with one memray Tracker for the whole run, so the Tracker's
start per test is gone; what is left is memray recording each allocation. This times the same
work (the pdm fixture's kind of test: an SQLite table filled and read, a JSON report round
trip, ``--tests`` times) plainly, inside one Tracker writing every allocation (what memtest's
run Tracker writes), inside one Tracker writing an aggregated capture (memray's smallest
format, which keeps only the run's own high-water mark, so no test's peak), and the time to read
the first capture's records back as memtest does (memray's FileReader, one Python object a
record), each round back to back; it prints the medians and the ratios to the plain run. docs/benchmarks.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import memray


def one_test(customer: int) -> None:
    """One service-like test's work: tens of milliseconds of allocating through malloc."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, amount INTEGER)")
    db.executemany(
        "INSERT INTO orders (customer, amount) VALUES (?, ?)",
        ((number % 50, number) for number in range(20_000)),
    )
    rows = db.execute("SELECT id, amount FROM orders WHERE customer = ?", (customer,)).fetchall()
    db.close()
    report = json.loads(json.dumps([{"id": key, "amount": amount} for key, amount in rows]))
    assert len(report) == 400


def timed(work: Callable[[], None]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tests", type=int, default=60)
    args = parser.parse_args()

    def suite() -> None:
        for customer in range(args.tests):
            one_test(customer % 50)

    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)

        records: list[int] = []  # each capture's number of records

        def tracked(file_format: memray.FileFormat, index: int) -> Callable[[], None]:
            def run() -> None:
                capture = folder / f"{file_format.name}-{index}.bin"
                with memray.Tracker(capture, file_format=file_format):
                    suite()

            return run

        def read_back(index: int) -> Callable[[], None]:
            """Every record of the run's capture, read as memtest reads it: one Python
            object a record (memray's FileReader), in the order recorded."""

            def run() -> None:
                capture = folder / f"ALL_ALLOCATIONS-{index}.bin"
                reader = memray.FileReader(capture)
                records.append(sum(1 for _ in reader.get_allocation_records()))
                reader.close()

            return run

        suite()  # warm-up: imports and SQLite's first allocations
        rounds = [
            {
                "plain": timed(suite),
                "one Tracker, every allocation": timed(
                    tracked(memray.FileFormat.ALL_ALLOCATIONS, index)
                ),
                "one Tracker, aggregated": timed(
                    tracked(memray.FileFormat.AGGREGATED_ALLOCATIONS, index)
                ),
                "reading every record back": timed(read_back(index)),
            }
            for index in range(args.runs)
        ]
    plain = statistics.median(sample["plain"] for sample in rounds)
    print(f"{args.tests} service-like tests' work, medians of {args.runs} rounds:")
    for name in rounds[0]:
        median = statistics.median(sample[name] for sample in rounds)
        ratio = statistics.median(sample[name] / sample["plain"] for sample in rounds)
        print(f"  {name:<32} {median:6.2f} s   {ratio:.2f}x plain ({plain:.2f} s)")
    print(f"  records in one run's capture: {statistics.median(records):,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
