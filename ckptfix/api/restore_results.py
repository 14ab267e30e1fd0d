"""The records of ``ckptfix restore``'s three ``--json`` documents (``restore``, ``--list``, ``--prune``): part of
the one result model (``results.py``: ``Result``, ``Tool``, ``SkippedResult``; the schema is generated from both),
kept apart so that the gate (``inspect --json``) does not define them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from ckptfix.api.results import SCHEMA_VERSION, Result, SkippedResult, Tool, skipped, tool
from ckptfix.exitcodes import status_of

if TYPE_CHECKING:
    from ckptfix.api.fields import Action, BackupName, ExitCode, NonNegative, PathText, Status
    from ckptfix.repair.restore import (
        Backup,
        CheckpointBackups,
        FileCheck,
        ListOutcome,
        PruneOutcome,
        PruneResult,
        RestoreOutcome,
        RestoreResult,
    )

__all__ = ["BackupFile", "BackupResult", "FileState", "LeftAlone", "ListDocument", "ListedCheckpoint",
           "PruneDocument", "PrunedCheckpoint", "RestoreDocument", "RestoredCheckpoint", "list_result", "prune_result",
           "restore_result"]


class BackupFile(Result):
    """A file a backup holds what undoes, and what the repair did to it."""

    file: str
    action: Action


class BackupResult(Result):
    """One .ckptfix/backup-<UTC time> folder as found (restore --json, --list --json)."""

    name: BackupName
    path: PathText
    restored: Annotated[str | None, "UTC time of the restore that undid it, from its restored.json"]
    problem: Annotated[str | None, "why the backup cannot be used (refused: exit 3)"]
    incomplete: Annotated[bool, "no manifest.json: a repair stopped before it changed anything"]
    files: tuple[BackupFile, ...]


class FileState(Result):
    """Where one file of a backup stands."""

    file: str
    action: Action
    state: Annotated[str, {"enum": ["repaired", "original", "changed", "unsafe"]}]
    why: str | None
    created: Annotated[bool, "the repair created the file: undone by removing it"]
    restored: Annotated[bool, "this run put it back"]


class RestoredCheckpoint(Result):
    """What ``restore`` did (or would do) to one checkpoint."""

    path: PathText
    name: str
    status: Annotated[str, {"enum": ["restored", "already", "dry-run", "refused", "unreadable", "failed", "locked",
                                     "none"]}]
    exit_code: Annotated[int, {"enum": [0, 1, 3]}]
    backup: BackupResult | None
    files: tuple[FileState, ...]
    error: str | None


class RestoreDocument(Result):
    """ckptfix restore --json"""

    schema_version: Annotated[int, {"const": SCHEMA_VERSION}]
    tool: Annotated[Tool, {"properties": {"command": {"const": "restore"}}}]
    mode: Annotated[str, {"const": "restore"}]
    root: PathText
    latest: str | None
    exit_code: ExitCode
    status: Status
    skipped: tuple[SkippedResult, ...]
    dry_run: bool
    nothing_to_restore: Annotated[bool, "no checkpoint had a repair to undo (no backup, or every one restored "
                                        "already)"]
    checkpoints: tuple[RestoredCheckpoint, ...]


class ListedCheckpoint(Result):
    """One checkpoint's backups (``restore --list``)."""

    path: PathText
    name: str
    exit_code: Annotated[int, {"enum": [0, 3]}]
    problem: Annotated[str | None, "the .ckptfix folder itself cannot be used"]
    backups: Annotated[tuple[BackupResult, ...], "newest first"]
    next: Annotated[str | None, "the backup restore would undo"]
    files: Annotated[tuple[FileState, ...], "where the files of next stand now"]


class ListDocument(Result):
    """ckptfix restore --list --json"""

    schema_version: Annotated[int, {"const": SCHEMA_VERSION}]
    tool: Annotated[Tool, {"properties": {"command": {"const": "restore"}}}]
    mode: Annotated[str, {"const": "list"}]
    root: PathText
    latest: str | None
    exit_code: ExitCode
    status: Status
    skipped: tuple[SkippedResult, ...]
    checkpoints: tuple[ListedCheckpoint, ...]


class LeftAlone(Result):
    """A backup ``restore --prune`` left alone, and why."""

    name: str
    why: str


class PrunedCheckpoint(Result):
    """What ``restore --prune`` did (or would do) to one checkpoint's backups."""

    path: PathText
    name: str
    status: Annotated[str, {"enum": ["pruned", "dry-run", "nothing", "unreadable", "failed", "locked"]}]
    exit_code: Annotated[int, {"enum": [0, 1, 3]}]
    removed: Annotated[tuple[str, ...], "backups removed (with dry_run: that would be)"]
    kept: tuple[str, ...]
    left: Annotated[tuple[LeftAlone, ...], "backups not provably ckptfix's own: left alone"]
    error: str | None


class PruneDocument(Result):
    """ckptfix restore --prune --json"""

    schema_version: Annotated[int, {"const": SCHEMA_VERSION}]
    tool: Annotated[Tool, {"properties": {"command": {"const": "restore"}}}]
    mode: Annotated[str, {"const": "prune"}]
    root: PathText
    latest: str | None
    exit_code: ExitCode
    status: Status
    skipped: tuple[SkippedResult, ...]
    dry_run: bool
    keep: NonNegative
    checkpoints: tuple[PrunedCheckpoint, ...]


# --- building them ------------------------------------------------------------------------------


def _backup(b: Backup) -> BackupResult:
    return BackupResult(name=b.name, path=str(b.path), restored=b.restored, problem=b.problem, incomplete=b.incomplete,
                        files=tuple(BackupFile(file=e.file, action=e.kind) for e in b.entries))


def _file_state(c: FileCheck, restored: tuple[str, ...] = ()) -> FileState:
    return FileState(file=c.file, action=c.kind, state=c.state, why=c.why, created=c.created,
                     restored=c.file in restored)


def restore_result(outcome: RestoreOutcome) -> RestoreDocument:
    """``restore --json``: what restore did (or would do) to each checkpoint (``repair.restore.restore_path``)."""
    disc, code = outcome.disc, outcome.exit_code
    return RestoreDocument(
        schema_version=SCHEMA_VERSION, tool=tool("restore"), mode="restore", root=str(disc.root),
        latest=str(disc.latest) if disc.latest else None, exit_code=code, status=status_of(code), skipped=skipped(disc),
        dry_run=outcome.dry_run, nothing_to_restore=outcome.nothing_to_restore,
        checkpoints=tuple(_restored(r) for r in outcome.items))


def _restored(r: RestoreResult) -> RestoredCheckpoint:
    return RestoredCheckpoint(path=str(r.checkpoint), name=r.checkpoint.name, status=r.status, exit_code=r.exit_code,
                              backup=_backup(r.backup) if r.backup is not None else None,
                              files=tuple(_file_state(c, r.restored) for c in r.files), error=r.error)


def list_result(outcome: ListOutcome) -> ListDocument:
    """``restore --list --json``: every checkpoint's backups (``repair.restore.list_path``)."""
    disc, code = outcome.disc, outcome.exit_code
    return ListDocument(
        schema_version=SCHEMA_VERSION, tool=tool("restore"), mode="list", root=str(disc.root),
        latest=str(disc.latest) if disc.latest else None, exit_code=code, status=status_of(code), skipped=skipped(disc),
        checkpoints=tuple(_listed(i) for i in outcome.items))


def _listed(i: CheckpointBackups) -> ListedCheckpoint:
    return ListedCheckpoint(path=str(i.checkpoint), name=i.checkpoint.name, exit_code=i.exit_code, problem=i.problem,
                            backups=tuple(_backup(b) for b in reversed(i.backups)),
                            next=i.next.name if i.next is not None else None,
                            files=tuple(_file_state(c) for c in i.last))


def prune_result(outcome: PruneOutcome) -> PruneDocument:
    """``restore --prune --json``: what was removed (or would be), kept and left alone (``repair.restore.prune_path``)."""
    disc, code = outcome.disc, outcome.exit_code
    return PruneDocument(
        schema_version=SCHEMA_VERSION, tool=tool("restore"), mode="prune", root=str(disc.root),
        latest=str(disc.latest) if disc.latest else None, exit_code=code, status=status_of(code), skipped=skipped(disc),
        dry_run=outcome.dry_run, keep=outcome.keep, checkpoints=tuple(_pruned(r) for r in outcome.items))


def _pruned(r: PruneResult) -> PrunedCheckpoint:
    return PrunedCheckpoint(path=str(r.checkpoint), name=r.checkpoint.name, status=r.status, exit_code=r.exit_code,
                            removed=tuple(r.removed), kept=tuple(r.kept),
                            left=tuple(LeftAlone(name=n, why=w) for n, w in r.left), error=r.error)
