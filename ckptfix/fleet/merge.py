"""``ckptfix merge FILE...``: the JSON Lines of N shards as the one unsharded scan would have written them.

Each shard's file ends with its summary (``stream.summary_record``), which names the scan (command, roots,
depth, ``--all``), the shard (I/N), how many runs the walk found in all and their fingerprint. The files
are refused (``UsageError``, naming the files) unless they are complete shards of one scan: every file
finished (its summary is there), the same scan in each, shards 0 .. N-1 each exactly once, no run twice,
and every run found present. The runs are then merged in the unsharded order (each file is in that order
already: a streaming merge, memory flat in the number of runs) and counted again.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ckptfix.errors import UsageError
from ckptfix.fleet.stream import Tally, summary_record
from ckptfix.records import Record

__all__ = ["ShardFile", "merged_runs", "merged_summary", "read_shards"]

#: Summary fields every shard of one scan shares.
_SAME_SCAN = ("tool", "roots", "depth", "all", "runs_found", "runs_digest")


class ShardFile(Record):
    """One shard's file: its summary, and its runs' keys (root index, path relative to the root)."""

    path: Path
    summary: dict[str, Any]
    keys: tuple[tuple[int, str], ...]

    @property
    def shard(self) -> tuple[int, int]:
        s = self.summary["shard"]
        return (0, 1) if s is None else (s["index"], s["count"])


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        with open(path, encoding="utf-8") as f:
            for n, text in enumerate(f, 1):
                if not text.strip():
                    continue
                try:
                    obj = json.loads(text)
                except ValueError:
                    raise UsageError(f"{path}: line {n} is not JSON: not a file of ckptfix inspect --jsonl") from None
                if not isinstance(obj, dict) or obj.get("record") not in ("run", "summary"):
                    raise UsageError(f"{path}: line {n} is not a run or summary line of ckptfix inspect --jsonl")
                yield n, obj
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _read(path: Path) -> ShardFile:
    summary: dict[str, Any] | None = None
    runs: list[dict[str, Any]] = []
    for n, obj in _lines(path):
        if summary is not None:
            raise UsageError(f"{path}: line {n} follows the summary line: the file holds more than one scan")
        if obj["record"] == "summary":
            summary = obj
        else:
            runs.append({"root": obj.get("root"), "run": obj.get("run")})
    if summary is None:
        raise UsageError(f"{path}: no summary line: the shard did not finish (its job failed, or is still "
                         "running); run that shard again")
    roots = summary.get("roots") or []
    keys = []
    for r in runs:
        if r["root"] not in roots or not isinstance(r["run"], str):
            raise UsageError(f"{path}: a run line names a root its summary does not ({r['root']!r})")
        keys.append((roots.index(r["root"]), r["run"]))
    if len(keys) != summary.get("runs"):
        raise UsageError(f"{path}: {len(keys)} run lines, its summary says {summary.get('runs')}: the file is damaged")
    return ShardFile(path, summary, tuple(keys))


def read_shards(paths: Sequence[Path]) -> list[ShardFile]:
    """Every file read and checked against the others; ``UsageError`` saying what does not fit, and where."""
    files = [_read(Path(p)) for p in paths]
    first = files[0]
    for f in files[1:]:
        for field in _SAME_SCAN:
            if f.summary.get(field) != first.summary.get(field):
                raise UsageError(f"{f.path} and {first.path} are not shards of the same scan: their {field} differ "
                                 f"({_short(f.summary.get(field))} and {_short(first.summary.get(field))})"
                                 + ("; the runs found changed between the shards' walks" if field.startswith("runs") else ""))
    counts = {f.shard[1] for f in files}
    if len(counts) > 1:
        raise UsageError("the files split the runs in different numbers of shards: "
                         + ", ".join(f"{f.path}: {f.shard[0]}/{f.shard[1]}" for f in files))
    n = counts.pop()
    by_index: dict[int, list[ShardFile]] = {}
    for f in files:
        by_index.setdefault(f.shard[0], []).append(f)
    twice = {i: fs for i, fs in by_index.items() if len(fs) > 1}
    if twice:
        raise UsageError("shards overlap: " + "; ".join(f"shard {i}/{n} is in {', '.join(str(f.path) for f in fs)}"
                                                       for i, fs in sorted(twice.items())))
    missing = [i for i in range(n) if i not in by_index]
    if missing:
        raise UsageError(f"shard{'s' if len(missing) > 1 else ''} {', '.join(f'{i}/{n}' for i in missing)} "
                         f"missing: give all {n} shards' files (run the missing ones first)")
    seen: dict[tuple[int, str], Path] = {}
    for f in files:
        for k in f.keys:
            if k in seen:
                raise UsageError(f"run {k[1]} is in both {seen[k]} and {f.path}: the shards overlap")
            seen[k] = f.path
    if len(seen) != first.summary["runs_found"]:
        raise UsageError(f"the shards hold {len(seen)} runs, the walk found {first.summary['runs_found']}: "
                         "a shard's file is incomplete")
    return sorted(files, key=lambda f: f.shard[0])


def _short(v: Any) -> str:
    text = json.dumps(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _runs(f: ShardFile) -> Iterator[tuple[tuple[int, str], dict[str, Any]]]:
    roots = f.summary["roots"]
    for _n, obj in _lines(f.path):
        if obj["record"] == "run":
            yield (roots.index(obj["root"]), obj["run"]), obj


def merged_runs(files: Sequence[ShardFile]) -> Iterator[dict[str, Any]]:
    """Every shard's run records, in the order one unsharded scan writes them (read again, streaming)."""
    for _key, obj in heapq.merge(*(_runs(f) for f in files), key=lambda kv: kv[0]):
        yield obj


def merged_summary(files: Sequence[ShardFile], tally: Tally) -> dict[str, Any]:
    """The unsharded scan's summary, from the shards' common fields and the merged runs' ``tally``."""
    s = files[0].summary
    out = summary_record(tally, s["tool"]["command"], s["roots"], s["depth"], s["all"], None, s["runs_found"],
                         s["runs_digest"])
    out["tool"] = s["tool"]  # the version that scanned, not the one merging
    return out
