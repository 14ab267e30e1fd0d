"""A fleet scan: the roots' runs found and sharded (``plan``), then checked and counted (``check``).

``plan`` walks every root once (on object storage the root was listed once, recursively, when it was
opened: the walk reads that listing), keeps the runs of this shard, and fingerprints every run found so
that ``merge`` can tell shards of the same scan. ``check`` runs a per-run function over them
(``runner.check_runs``), hands each record to the caller as it comes (to print it, or write it as a JSON
Lines line) and returns the summary.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from ckptfix.exitcodes import UNREADABLE
from ckptfix.fleet.runner import Progress, Work, check_runs
from ckptfix.fleet.runs import Run, find_runs, holds_run, runs_digest
from ckptfix.fleet.shard import Shard
from ckptfix.fleet.stream import Tally, summary_record
from ckptfix.formats.source import Store
from ckptfix.records import Record

__all__ = ["Plan", "Root", "check", "plan"]


class Root(Record):
    """A PATH as the user gave it, the store it names and the store's path of it."""

    text: str
    store: Store
    path: Any


class Plan(Record):
    """The runs to check, root by root (this shard's only), and what the walk found in all."""

    roots: tuple[Root, ...]
    runs: tuple[tuple[Run, ...], ...]  # per root, sorted by the path relative to it
    found: int  # runs found under every root, whatever the shard
    digest: str  # runs_digest of every run found
    depth: int
    shard: Shard | None = None

    @property
    def total(self) -> int:
        return sum(len(r) for r in self.runs)


def plan(roots: Sequence[Root], depth: int, shard: Shard | None = None) -> Plan:
    """Every root walked; the runs of ``shard`` kept. Several roots are told apart by their text: a run's
    key is its path relative to its root, prefixed by the root when there are several."""
    many = len(roots) > 1
    keys: list[str] = []
    kept: list[tuple[Run, ...]] = []
    for root in roots:
        found = list(find_runs(root.store, root.text, root.path, depth, partial(holds_run, root.store)))
        these = [f"{root.text}\n{r.key}" if many else r.key for r in found]
        keys += these
        kept.append(tuple(r for r, k in zip(found, these) if shard is None or shard.holds(k)))
    return Plan(tuple(roots), tuple(kept), len(keys), runs_digest(keys), depth, shard)


def check(p: Plan, work_for: Callable[[Store], Work], command: str, every: bool, jobs: int = 1,
          on_record: Callable[[dict[str, Any]], None] | None = None, progress: Progress | None = None,
          parallel: bool = True) -> dict[str, Any]:
    """Check every run of the plan (``work_for(store)``: the per-run function for a root's store), give each
    record to ``on_record`` as it comes, and return the summary record. A root whose storage stopped
    answering within ``--timeout`` makes the whole scan unreadable (3), as for one PATH. ``parallel=False``:
    one run after the other (``repair``: its writes never overlap)."""
    tally = Tally()
    done, total = 0, p.total

    def tick(i: int, _n: int, current: str) -> None:
        if progress:
            progress(done + i, total, current)

    for root, runs in zip(p.roots, p.runs):
        for record in check_runs(runs, work_for(root.store), root.store, jobs, tick if progress else None,
                                 parallel):
            tally.add(record)
            if on_record:
                on_record(record)
        done += len(runs)
        if root.store.timed_out() is not None:
            tally.codes.add(UNREADABLE)
    return summary_record(tally, command, [r.text for r in p.roots], p.depth, every, p.shard, p.found, p.digest)
