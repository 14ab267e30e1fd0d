"""``ckptfix restore``: undo the last repair of a checkpoint from its ``.ckptfix/backup-<UTC time>/``.

Every repair leaves a backup folder with a ``manifest.json`` naming each file it changed, the SHA-256 of
the original and of the repaired file, and what undoes it: a byte-identical copy (a scheduler file
rewritten or re-created), nothing (a file repair created: removing it undoes it), or a patch record
(``optimizer*.bin`` patched by ``--optimizer-lr``: the old bytes go back, ``optimizer_lr.restore``).

Restoring is all or nothing as far as it can be checked beforehand: each file must be the repaired one
(restore it) or already the original (leave it); if any file is neither, someone changed it since, and
nothing is touched. Files are restored in the reverse order of the repair, under the repair lock, each
through the durable helpers (temporary file, fsync, ``os.replace``) and checked against the original's
SHA-256 afterwards. A restored backup is marked (``restored.json`` inside it), so a second ``restore``
undoes the repair before it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from ckptfix.errors import CkptfixError, LockHeld, RepairFailed, UsageError
from ckptfix.model.checkpoint import Discovery
from ckptfix.model.discover import discover, targets
from ckptfix.records import Record
from ckptfix.repair.actions.interface import Fault
from ckptfix.repair.actions.optimizer_lr import restore as restore_patch
from ckptfix.repair.durable import WORK_DIR, check_identity, fsync_dir, identity, put_back, sha256, utc_stamp
from ckptfix.repair.lock import acquire_lock, release_lock

__all__ = [
    "RESTORED_MARK", "Backup", "BackupFile", "FileCheck", "FileState", "RestoreOutcome", "RestoreResult",
    "RestoreStatus", "check_files", "list_backups", "restore_checkpoint", "restore_path",
]

RESTORED_MARK = "restored.json"

#: Where a file stands against one backup: as the repair left it, as it was before, or changed since.
FileState = Literal["repaired", "original", "changed"]
#: What became of one checkpoint's restore.
RestoreStatus = Literal["restored", "already", "dry-run", "refused", "failed", "locked", "none"]


class BackupFile(Record):
    """One file a repair changed, as its backup's manifest records it."""

    file: str  # its name in the checkpoint
    action: str  # "rewrite" | "create" | "patch"
    sha256: str | None  # the original's; None: the file did not exist before the repair
    sha256_new: str | None  # the repaired file's; None in manifests written before ckptfix recorded it
    entry: Any = None  # the manifest entry itself (for a patch: the record optimizer_lr.restore reads)


class Backup(Record):
    """One ``.ckptfix/backup-*`` folder: what the repair changed, and whether it was restored since."""

    path: Path
    files: tuple[BackupFile, ...] = ()
    restored: str | None = None  # UTC time of the restore that undid it
    problem: str | None = None  # why its manifest cannot be used

    @property
    def name(self) -> str:
        return self.path.name


class FileCheck(Record):
    """Where one file of a backup stands now."""

    path: Path
    action: str
    state: FileState


class RestoreResult(Record):
    """What ``restore`` did (or would do) to one checkpoint."""

    checkpoint: Path
    status: RestoreStatus
    backup: Backup | None = None
    files: tuple[FileCheck, ...] = ()
    restored: tuple[Path, ...] = ()
    error: str | None = None

    @property
    def exit_code(self) -> int:
        return 0 if self.status in ("restored", "already", "dry-run", "none") else 1


class RestoreOutcome(Record):
    """``restore`` on one PATH: every checkpoint's result, and the exit code."""

    disc: Discovery
    items: tuple[RestoreResult, ...]
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        return max((i.exit_code for i in self.items), default=0)


def _read_backup(path: Path) -> Backup:
    mark = path / RESTORED_MARK
    restored = None
    if mark.is_file():
        try:
            restored = str(json.loads(mark.read_text()).get("time")) or "yes"
        except (OSError, ValueError, AttributeError):
            restored = "yes"
    try:
        manifest = json.loads((path / "manifest.json").read_text())
        entries = manifest["files"]
        files = tuple(BackupFile(str(e["file"]), str(e.get("action", "rewrite")), e.get("sha256"), e.get("sha256_new"), e)
                      for e in entries)
    except FileNotFoundError:
        return Backup(path, restored=restored, problem="no manifest.json (a repair killed before its backup was complete)")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Backup(path, restored=restored, problem=f"manifest.json is unreadable ({exc})")
    for f in files:
        if "/" in f.file or f.file in ("", ".", ".."):
            return Backup(path, files, restored, f"manifest.json names {f.file!r}, not a file of the checkpoint")
    return Backup(path, files, restored)


def list_backups(checkpoint: Path) -> tuple[Backup, ...]:
    """The checkpoint's backups, oldest first (their names are UTC times)."""
    work = checkpoint / WORK_DIR
    if not work.is_dir() or work.is_symlink():
        return ()
    folders = sorted(p for p in work.iterdir() if p.name.startswith("backup-") and p.is_dir() and not p.is_symlink())
    return tuple(_read_backup(p) for p in folders)


def _state(checkpoint: Path, f: BackupFile) -> FileState:
    path = checkpoint / f.file
    now = sha256(path) if path.is_file() and not path.is_symlink() else None
    if now is not None and now == f.sha256_new:
        return "repaired"
    if now == f.sha256:  # both None: a created file that is gone again
        return "original"
    return "changed"


def check_files(checkpoint: Path, backup: Backup) -> tuple[FileCheck, ...]:
    """Where each file of ``backup`` stands now (reads and hashes them; writes nothing)."""
    return tuple(FileCheck(checkpoint / f.file, f.action, _state(checkpoint, f)) for f in backup.files)


def _pick(backups: tuple[Backup, ...], name: str | None) -> Backup | None:
    if name is not None:
        return next((b for b in backups if b.name == name), None)
    pending = [b for b in backups if b.restored is None]
    return pending[-1] if pending else None


def _refusal(checks: tuple[FileCheck, ...], backup: Backup) -> str | None:
    changed = [c for c in checks if c.state == "changed"]
    if not changed:
        return None
    by_name = {f.file: f for f in backup.files}
    parts = []
    for c in changed:
        f = by_name[c.path.name]
        if f.sha256_new is None:
            parts.append(f"{c.path.name}: the backup does not record the repaired file's SHA-256 (made by an older "
                         f"ckptfix), so ckptfix cannot tell whether it changed since; restore it by hand: {f.entry.get('restore')}")
        else:
            parts.append(f"{c.path.name} is neither the repaired file nor the original (changed since the repair)")
    return "; ".join(parts) + ": nothing restored"


def _undo_file(checkpoint: Path, backup: Backup, f: BackupFile) -> None:
    path = checkpoint / f.file
    expect = identity(path)  # the file now, checked to be the repaired one: another version is never replaced
    if _state(checkpoint, f) != "repaired":
        raise RepairFailed(f"{path} changed while restoring; not touched")
    if f.action == "patch":
        restore_patch(f.entry, path)
    elif f.sha256 is not None:
        put_back(backup.path / f.file, path, f.sha256, expect)
    else:  # created by the repair: remove it (if it is still the file the repair wrote)
        check_identity(path, expect, "while restoring")
        path.unlink()
        fsync_dir(checkpoint)
    if _state(checkpoint, f) != "original":
        raise RepairFailed(f"{path}: not the original after restoring")


def _mark_restored(backup: Backup) -> None:
    mark = backup.path / RESTORED_MARK
    with open(mark, "w") as fo:
        fo.write(json.dumps({"time": utc_stamp(), "by": "ckptfix restore"}) + "\n")
        fo.flush()
        os.fsync(fo.fileno())
    fsync_dir(backup.path)


def _no_fault(stage: str, path: Path) -> None:
    pass


def restore_checkpoint(checkpoint: Path, backup_name: str | None = None, dry_run: bool = False,
                       fault: Fault | None = None) -> RestoreResult:
    """Undo the last repair of ``checkpoint`` (or the one in ``backup_name``). Never raises for restore
    failures: see ``RestoreResult``. ``fault`` is a test hook called at ``lock``, ``restore`` (each file)
    and ``mark``."""
    hook = fault or _no_fault
    backups = list_backups(checkpoint)
    backup = _pick(backups, backup_name)
    if backup is None:
        if backup_name is not None:
            return RestoreResult(checkpoint, "none", error=f"no backup named {backup_name} in {checkpoint / WORK_DIR}")
        if backups:
            return RestoreResult(checkpoint, "already", backups[-1], error="every backup was restored already")
        return RestoreResult(checkpoint, "none", error="no backup: ckptfix never repaired this checkpoint")
    if backup.problem is not None:
        return RestoreResult(checkpoint, "refused", backup, error=f"{backup.name}: {backup.problem}")
    checks = check_files(checkpoint, backup)
    why = _refusal(checks, backup)
    if why is not None:
        return RestoreResult(checkpoint, "refused", backup, checks, error=why)
    todo = [f for f, c in zip(backup.files, checks) if c.state == "repaired"]
    if dry_run:
        return RestoreResult(checkpoint, "dry-run" if todo else "already", backup, checks)
    try:
        hook("lock", checkpoint)
        lock = acquire_lock(checkpoint)
    except LockHeld as exc:
        return RestoreResult(checkpoint, "locked", backup, checks, error=str(exc))
    except Exception as exc:  # nothing was written yet
        return RestoreResult(checkpoint, "failed", backup, checks, error=str(exc))
    done: list[Path] = []
    try:
        # again under the lock: a repair may have finished between the check and the lock
        if _refusal(check_files(checkpoint, backup), backup) is not None:
            return RestoreResult(checkpoint, "refused", backup, check_files(checkpoint, backup),
                                 error="files changed while restoring started; nothing restored")
        for f in reversed(todo):
            hook("restore", checkpoint / f.file)
            _undo_file(checkpoint, backup, f)
            done.append(checkpoint / f.file)
        hook("mark", backup.path)
        _mark_restored(backup)
    except Exception as exc:  # each file is the original or the repaired one: say which
        error = str(exc) if isinstance(exc, CkptfixError) else f"{type(exc).__name__}: {exc}"
        return RestoreResult(checkpoint, "failed", backup, check_files(checkpoint, backup), tuple(done), error)
    finally:
        release_lock(lock)
    status: RestoreStatus = "restored" if done else "already"
    return RestoreResult(checkpoint, status, backup, check_files(checkpoint, backup), tuple(done))


def restore_path(path: Path, latest_only: bool = False, backup_name: str | None = None,
                 dry_run: bool = False, fault: Fault | None = None) -> RestoreOutcome:
    """Restore every checkpoint under ``path`` that has a backup (or only the latest); ``UsageError`` for a
    bad PATH, for ``backup_name`` on several checkpoints, and when no checkpoint has a backup at all."""
    disc = discover(path)
    chosen = targets(disc, latest_only)
    if backup_name is not None and len(chosen) != 1:
        raise UsageError(f"--backup names one backup: give one checkpoint folder, not {path} "
                         f"({len(chosen)} checkpoints)")
    items = tuple(restore_checkpoint(ck, backup_name, dry_run, fault) for ck in chosen)
    if backup_name is not None and items and items[0].status == "none":
        raise UsageError(f"{items[0].error}; ckptfix restore {chosen[0]} --list shows them")
    if chosen and all(i.status == "none" for i in items):
        where = chosen[0] if len(chosen) == 1 else path
        raise UsageError(f"{where}: no ckptfix backup (.ckptfix/backup-*): nothing to restore")
    return RestoreOutcome(disc, items, dry_run)
