"""A least-recently-used cache bounded by entry count and by payload bytes.

Unbounded caches are the most common slow memory leak in services: every distinct key keeps
its value alive forever. This cache evicts the least recently used entries as soon as either
bound is exceeded, so its memory stays flat however many keys pass through it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class BoundedCache:
    """Map keys to ``bytes`` values, keeping at most ``max_entries`` and ``max_bytes``."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        if max_entries < 1 or max_bytes < 1:
            msg = f"bounds must be positive, got max_entries={max_entries}, max_bytes={max_bytes}"
            raise ValueError(msg)
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """Total length of the cached values."""
        return self._bytes

    def get(self, key: Hashable) -> bytes | None:
        """Return the cached value and mark it recently used, or ``None`` on a miss."""
        value = self._entries.get(key)
        if value is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: Hashable, value: bytes) -> None:
        """Store ``value``; values larger than ``max_bytes`` are not cached at all."""
        if len(value) > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old)
        self._entries[key] = value
        self._bytes += len(value)
        self._evict()

    def clear(self) -> None:
        """Drop every entry."""
        self._entries.clear()
        self._bytes = 0

    def _evict(self) -> None:
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            _, value = self._entries.popitem(last=False)
            self._bytes -= len(value)
            self.evictions += 1
