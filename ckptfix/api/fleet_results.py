"""The records of many runs' output (``ckptfix/fleet/``, docs/fleet.md): a run (a ``--jsonl`` line), the
summary (the last line) and the one ``--json`` document. Part of the one result model (``results.py``; the
schema is generated from both), kept apart so that the one-PATH gate does not define them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from ckptfix.api.restore_results import ListDocument
from ckptfix.api.results import SCHEMA_VERSION, CheckResult, ErrorResult, RepairResult, Result, Tool

if TYPE_CHECKING:
    from ckptfix.api.fields import ExitCode, NonNegative, PathText, Positive, Status

__all__ = ["FleetDocument", "FleetRun", "FleetSummary", "ShardResult"]

_COUNTS = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}


class ShardResult(Result):
    """``--shard I/N``: shard ``index`` (from 0) of ``count``."""

    index: NonNegative
    count: Positive


class FleetRun(Result):
    """One run of many (docs/fleet.md): a line of ``--jsonl``, an item of the many-runs document's ``runs``."""

    record: Annotated[str, {"const": "run"}]
    root: Annotated[str, "the PATH it was found under, as given"]
    run: Annotated[str, "its path relative to the root ('.': the root itself); what --shard hashes"]
    path: PathText
    exit_code: ExitCode
    status: Status
    checkpoints: Annotated[NonNegative, "checkpoints checked"]
    verdicts: Annotated[dict[str, int], "checkpoints by verdict (inspect), by status (repair), by backups "
                        "(restore --list)", _COUNTS]
    next: Annotated[str | None, "inspect: the command to run next for this run (document.next.command)"]
    document: Annotated[CheckResult | RepairResult | ListDocument | ErrorResult,
                        "exactly what the single-run --json prints for this run"]


class FleetSummary(Result):
    """The last line of ``--jsonl``, and the many-runs document's ``summary``: what the runs came to."""

    record: Annotated[str, {"const": "summary"}]
    schema_version: Annotated[int, {"const": SCHEMA_VERSION}]
    tool: Tool
    roots: tuple[str, ...]
    depth: NonNegative
    all: Annotated[bool, "--all: every checkpoint of each run, not only the one its trainer resumes"]
    shard: Annotated[ShardResult | None, "--shard I/N; null: every run"]
    runs_found: Annotated[NonNegative, "runs the walk found under the roots, in every shard"]
    runs_digest: Annotated[str, "SHA-256 of every run found: shards of one scan agree", {"pattern": "^[0-9a-f]{64}$"}]
    runs: Annotated[NonNegative, "runs in this output"]
    checkpoints: NonNegative
    verdicts: Annotated[dict[str, int], _COUNTS]
    run_status: Annotated[dict[str, int], "runs by status (ok, findings, unreadable, nothing-to-resume...)", _COUNTS]
    exit_code: ExitCode
    status: Status


class FleetDocument(Result):
    """``--json`` for many runs (a root of runs, several PATHs): every run, then the summary (written as the runs
    finish: ``fleet/stream.py``)."""

    schema_version: Annotated[int, {"const": SCHEMA_VERSION}]
    tool: Tool
    roots: tuple[str, ...]
    shard: ShardResult | None
    runs: tuple[FleetRun, ...]
    summary: FleetSummary
    exit_code: ExitCode
    status: Status
