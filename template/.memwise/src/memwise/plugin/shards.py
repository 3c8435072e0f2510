"""A suite split over several runners, and the one verdict of its parts.

`nox -s memtest -- --shard K/N` runs the K-th of N groups of the collected tests, every test in
exactly one group. Where an earlier whole run (not a shard) recorded the tests' durations
(memwise's entry in pytest's cache, `.pytest_cache/v/memwise/durations`), the groups are
balanced by time: the
longest test first, each to the group with the least time so far (a test without a recorded
duration counts as the median one). Without durations they are balanced by count: the node ids
sorted, every N-th one from the K-th. Either way the same collection and durations always give
the same groups, on any machine. Each shard writes `shard.json` beside its manifest: K, N, how
it balanced, every node id the run collected and the ones it ran. `nox -s memreport -- FOLDER...` reads the shards' report folders and says
red when a shard failed, when a shard of N is missing or given twice, when the shards
collected different tests, or when a test is in two shards or in none.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from memwise.report_names import SHARD

DURATIONS_KEY = (
    "memwise/durations"  # pytest's cache: node id -> seconds, from the last runs
)
_SPEC = re.compile(r"(\d+)/(\d+)")


class ShardError(Exception):
    """A shard given wrongly, or shards that do not add up: the message says which."""


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based, as people count runners
    count: int

    @classmethod
    def parse(cls, spec: str) -> Shard:
        found = _SPEC.fullmatch(spec.strip())
        if found is None or not 1 <= int(found[1]) <= int(found[2]):
            raise ShardError(
                f"--shard {spec!r}: give K/N, the K-th of N groups, with 1 <= K <= N "
                "(e.g. --shard 2/3)"
            )
        return cls(int(found[1]), int(found[2]))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(
        self, node_ids: list[str], durations: dict[str, float] | None = None
    ) -> list[str]:
        """This shard's node ids of a collection: by recorded durations where there are
        any for these tests, else every count-th of the sorted ids from index."""
        ordered = sorted(set(node_ids))
        recorded = durations or {}
        known = {node: recorded[node] for node in ordered if node in recorded}
        if not known:
            return ordered[self.index - 1 :: self.count]
        times = sorted(known.values())
        typical = times[len(times) // 2]
        loads = [0.0] * self.count
        mine: list[str] = []
        # Longest first, each to the least loaded group (the lowest index on a tie): the
        # groups' times differ by one test's at most, and the order fixes the result.
        for node in sorted(ordered, key=lambda node: (-known.get(node, typical), node)):
            group = min(range(self.count), key=lambda index: (loads[index], index))
            loads[group] += known.get(node, typical)
            if group == self.index - 1:
                mine.append(node)
        return sorted(mine)


@dataclass
class ShardRecord:
    """What one shard collected and ran (shard.json)."""

    shard: Shard
    collected: list[str]
    selected: list[str]
    # "count", or "durations <digest>": shards must balance on the same durations to agree.
    balance: str = "count"

    def write(self, path: Path) -> None:
        data = {
            "shard": str(self.shard),
            "balance": self.balance,
            "collected": sorted(self.collected),
            "selected": sorted(self.selected),
        }
        # pytest-xdist's workers each write the same record: the last replace wins whole.
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(json.dumps(data, indent=1), encoding="utf-8")
        partial.replace(path)

    @classmethod
    def read(cls, path: Path) -> ShardRecord:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                Shard.parse(str(data["shard"])),
                [str(node) for node in data["collected"]],
                [str(node) for node in data["selected"]],
                str(data.get("balance", "count")),
            )
        except FileNotFoundError:
            raise ShardError(
                f"{path.parent}: no {SHARD}; give the report folders of runs of "
                "`nox -s memtest -- --shard K/N`"
            ) from None
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ShardError(
                f"{path}: not a shard record memwise wrote ({error})"
            ) from None


@dataclass
class Merged:
    """The shards' verdict: the problems that make it red, and counts."""

    count: int
    shards: dict[int, ShardRecord] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def tests(self) -> int:
        return sum(len(record.selected) for record in self.shards.values())


def merge(records: list[tuple[Path, ShardRecord]]) -> Merged:
    """Check that the shards' records add up to one run of the whole collection."""
    if not records:
        raise ShardError("memreport needs the report folders of the shards to merge")
    counts = {record.shard.count for _, record in records}
    merged = Merged(count=max(counts))
    if len(counts) > 1:
        merged.problems.append(
            f"the shards were split differently (N = {', '.join(map(str, sorted(counts)))})"
        )
    for folder, record in records:
        if record.shard.index in merged.shards:
            merged.problems.append(
                f"shard {record.shard} is given twice (again in {folder})"
            )
        merged.shards[record.shard.index] = record
    missing = sorted(set(range(1, merged.count + 1)) - set(merged.shards))
    if missing:
        merged.problems.append(
            f"shard{'s' if len(missing) > 1 else ''} "
            f"{', '.join(f'{index}/{merged.count}' for index in missing)} missing: "
            "its tests did not run"
        )
    collections = {tuple(record.collected) for record in merged.shards.values()}
    if len(collections) > 1:
        merged.problems.append(
            "the shards collected different tests (different commits or arguments?)"
        )
    balances = {record.balance for record in merged.shards.values()}
    if len(balances) > 1:
        merged.problems.append(
            "the shards balanced their groups on different recorded durations (each "
            "runner's .pytest_cache): give every runner the same cache, or none"
        )
    seen: dict[str, int] = {}
    for index, record in sorted(merged.shards.items()):
        for node in record.selected:
            if node in seen:
                merged.problems.append(f"{node} ran in shards {seen[node]} and {index}")
            seen[node] = index
    if not missing and len(collections) == 1:
        (collected,) = collections
        unrun = sorted(set(collected) - set(seen))
        merged.problems.extend(f"{node} is in no shard" for node in unrun[:20])
    return merged


def balance_of(durations: dict[str, float] | None, node_ids: list[str]) -> str:
    """How a shard balanced its groups, as shard.json records it (a digest of the durations
    of the collected tests, so that shards that saw different ones are told apart)."""
    recorded = durations or {}
    known = sorted(
        (node, round(recorded[node], 6)) for node in node_ids if node in recorded
    )
    if not known:
        return "count"
    digest = hashlib.sha256(json.dumps(known).encode()).hexdigest()[:12]
    return f"durations {digest}"


def recorded_durations(value: object) -> dict[str, float]:
    """The durations entry of pytest's cache, or nothing where it is not what memwise wrote."""
    if not isinstance(value, dict):
        return {}
    return {
        str(node): float(seconds)
        for node, seconds in value.items()
        if isinstance(seconds, int | float) and seconds >= 0
    }


def take_shard_option(words: list[str]) -> tuple[Shard | None, list[str]]:
    """`--shard K/N` (or `--shard=K/N`) out of a session's arguments, and the others."""
    rest: list[str] = []
    shard = None
    remaining = iter(words)
    for word in remaining:
        if word == "--shard":
            shard = Shard.parse(next(remaining, ""))
        elif word.startswith("--shard="):
            shard = Shard.parse(word.split("=", 1)[1])
        else:
            rest.append(word)
    return shard, rest
