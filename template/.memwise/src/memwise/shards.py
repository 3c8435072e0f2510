"""A suite split over several runners, and the one verdict of its parts.

`nox -s memtest -- --shard K/N` runs the K-th of N groups of the collected tests: the node ids
sorted, every N-th one from the K-th, so every test is in exactly one group, the groups differ
in size by one at most, and the same collection always gives the same groups (on any machine).
Each shard writes `shard.json` beside its manifest: K, N, every node id the run collected
and the ones it ran. `nox -s memreport -- FOLDER...` reads the shards' report folders and says
red when a shard failed, when a shard of N is missing or given twice, when the shards
collected different tests, or when a test is in two shards or in none.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

SHARD_FILE = "shard.json"
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

    def owns(self, node_ids: list[str]) -> list[str]:
        """This shard's node ids of a collection (sorted, every count-th from index)."""
        ordered = sorted(set(node_ids))
        return ordered[self.index - 1 :: self.count]


@dataclass
class ShardRecord:
    """What one shard collected and ran (shard.json)."""

    shard: Shard
    collected: list[str]
    selected: list[str]

    def write(self, path: Path) -> None:
        data = {
            "shard": str(self.shard),
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
            )
        except FileNotFoundError:
            raise ShardError(
                f"{path.parent}: no {SHARD_FILE}; give the report folders of runs of "
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
