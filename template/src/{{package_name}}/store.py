"""Orders kept in SQLite (standard library, embedded: nothing to start or install).

Database reads are where a service's memory jumps: ``cursor.fetchall()`` loads every row of a
result at once, so its memory grows with the table (about 30 MiB for 200,000 orders here).
``iter_orders`` streams the rows in batches of ``batch_size``: its memory stays bounded (a
batch, and SQLite's page cache of at most 2 MiB) however large the table grows, which
tests/test_memory.py proves with the same budget at two sizes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Self

Order = tuple[int, int, str, int]  # id, customer, item, amount


class OrderStore:
    """A small repository of orders: add them in bulk, stream them, total them in SQL.

    Use it in a ``with`` block (or call ``close``): an unclosed connection is a resource leak
    that Python reports as a ResourceWarning.
    """

    def __init__(self, path: str | Path = ":memory:") -> None:
        self._db = sqlite3.connect(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, customer INTEGER NOT NULL,"
            " item TEXT NOT NULL, amount INTEGER NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS by_customer ON orders (customer)")

    def add_orders(self, orders: Iterable[tuple[int, str, int]]) -> None:
        """Insert (customer, item, amount) rows in one transaction."""
        with self._db:
            self._db.executemany(
                "INSERT INTO orders (customer, item, amount) VALUES (?, ?, ?)", orders
            )

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM orders").fetchone()[0])

    def iter_orders(self, customer: int | None = None, batch_size: int = 500) -> Iterator[Order]:
        """Every order (of one customer, if given), streamed ``batch_size`` rows at a time."""
        query = "SELECT id, customer, item, amount FROM orders"
        cursor = (
            self._db.execute(f"{query} ORDER BY id")
            if customer is None
            else self._db.execute(f"{query} WHERE customer = ? ORDER BY id", (customer,))
        )
        while batch := cursor.fetchmany(batch_size):
            yield from batch

    def customer_total(self, customer: int) -> int:
        """The sum of a customer's orders, computed by SQLite instead of in Python."""
        row = self._db.execute(
            "SELECT COALESCE(SUM(amount), 0) FROM orders WHERE customer = ?", (customer,)
        ).fetchone()
        return int(row[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()  # sqlite3's own `with` commits but never closes the connection
