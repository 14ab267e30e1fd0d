"""The fleet's output: run records streamed as JSON Lines or inside one JSON document, and the summary.

JSON Lines (``--jsonl``): one run record per line (``single_run.run_record``), written and flushed as each
run finishes, in the runs' order; then one summary line (``summary_record``). ``--json``: one document,
``{"schema_version", "tool", "roots", "shard", "runs": [...], "summary": {...}, "exit_code", "status"}``,
written as the runs finish too (nothing is held: memory stays flat in the number of runs).
Both follow ``ckptfix/schema/ckptfix.schema.json`` (``fleet_run``, ``fleet_summary``, ``fleet_document``:
``api/fleet_results.py``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import IO, Any

from ckptfix.api.fleet_results import FleetSummary, ShardResult
from ckptfix.api.results import SCHEMA_VERSION, tool
from ckptfix.exitcodes import NOTHING_TO_RESUME, status_of, worst
from ckptfix.fleet.shard import Shard

__all__ = ["DocumentWriter", "Tally", "fleet_exit", "line", "summary_record"]


def fleet_exit(codes: Iterable[int]) -> int:
    """The worst exit code over runs (5 > 3 > 2 > 1 > 0). A run with nothing to resume (4) only counts when
    no run has anything to resume: a root where some runs have no checkpoint yet gives the others' code."""
    return worst((c for c in codes if c != NOTHING_TO_RESUME), NOTHING_TO_RESUME)


class Tally:
    """What the summary counts, accumulated run by run (the records themselves are not kept)."""

    def __init__(self) -> None:
        self.runs = 0
        self.checkpoints = 0
        self.verdicts: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.codes: set[int] = set()

    def add(self, record: dict[str, Any]) -> None:
        self.runs += 1
        self.checkpoints += record["checkpoints"]
        self.verdicts.update(record["verdicts"])
        self.statuses[record["status"]] += 1
        self.codes.add(record["exit_code"])

    @property
    def exit_code(self) -> int:
        return fleet_exit(self.codes)


def summary_record(tally: Tally, command: str, roots: Sequence[str], depth: int, every: bool, shard: Shard | None,
                   runs_found: int, digest: str) -> dict[str, Any]:
    """The summary (the last JSON Lines line; ``summary`` of the document). ``runs_found`` and ``digest``
    describe every run the walk found, whatever the shard: ``merge`` checks that shards saw the same runs."""
    code = tally.exit_code
    return FleetSummary(record="summary", schema_version=SCHEMA_VERSION, tool=tool(command), roots=tuple(roots),
                        depth=depth, all=every, shard=_shard(shard), runs_found=runs_found, runs_digest=digest,
                        runs=tally.runs, checkpoints=tally.checkpoints, verdicts=dict(sorted(tally.verdicts.items())),
                        run_status=dict(sorted(tally.statuses.items())), exit_code=code,
                        status=status_of(code)).to_json()


def _shard(shard: Shard | None) -> ShardResult | None:
    return ShardResult(index=shard.index, count=shard.count) if shard else None


def line(out: IO[str], obj: dict[str, Any]) -> None:
    """One JSON Lines line, flushed (a reader such as ``jq`` sees each run as it finishes)."""
    out.write(json.dumps(obj, allow_nan=False, separators=(",", ":")) + "\n")
    out.flush()


class DocumentWriter:
    """``--json`` for many runs: one document, its runs written as they come."""

    def __init__(self, out: IO[str], command: str, roots: Sequence[str], shard: Shard | None) -> None:
        self.out, self.first = out, True
        sr = _shard(shard)
        head = {"schema_version": SCHEMA_VERSION, "tool": tool(command).to_json(), "roots": list(roots),
                "shard": sr.to_json() if sr else None}  # FleetDocument's fields, in its order
        out.write(json.dumps(head, indent=2)[:-2] + ',\n  "runs": [')

    def add(self, record: dict[str, Any]) -> None:
        self.out.write(("\n    " if self.first else ",\n    ") + json.dumps(record, allow_nan=False))
        self.first = False

    def close(self, summary: dict[str, Any]) -> None:
        tail = {"summary": summary, "exit_code": summary["exit_code"], "status": summary["status"]}
        self.out.write(("\n  ]," if not self.first else "],") + "\n" + json.dumps(tail, indent=2)[2:] + "\n")
        self.out.flush()
