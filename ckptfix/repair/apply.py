"""Carry out a ``RepairPlan``: the only code in ckptfix that writes into a checkpoint.

Every action of the plan (``actions/``: scheduler rewrites and creations, optimizer lr patches) goes
through the same stages, in the plan's order; each name is a ``stage`` passed to the ``fault`` hook,
which tests use to inject a failure or a kill between any two steps:

``lock``       ``<checkpoint>/.ckptfix/lock`` (``lock.py``): one repair at a time.
``recheck``    every file to touch still holds what the plan was computed from.
``backup``     ``.ckptfix/backup-<UTC time>/``: what each action needs to undo itself, fsynced, and
               ``manifest.json`` saying what was done.
``build``, ``write``, ``replace``   each action writes its new file beside the old one and
               ``os.replace``s it onto the real name (``durable.py``).
``verify``     the new file decodes, with ckptfix's reader (and torch's, when torch is installed), to
               exactly what was planned.

On any exception after ``lock``: temporary files are removed, every action undoes itself (the original
back, checked against its SHA-256), and the lock is released. A process killed outright leaves, at
every point, the original or the complete new file under the real name (``os.replace`` is the only
step that changes it), plus at most a temporary file and the lock.
"""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path
from typing import Any, Literal

from ckptfix.errors import CkptfixError, LockHeld, RepairFailed
from ckptfix.formats.source import LOCAL
from ckptfix.model.discover import is_in_progress
from ckptfix.model.leftovers import TMP_FILE, WORK_DIR, find_leftovers
from ckptfix.records import Record
from ckptfix.repair.actions.interface import Fault, Journal
from ckptfix.repair.durable import ANY, check_identity, fsync_dir, fsync_file, identity, make_backup_dir
from ckptfix.repair.lock import acquire_lock, release_lock
from ckptfix.repair.plan import RepairPlan
from ckptfix.repair.torch_check import torch_installed

__all__ = ["LOCAL_SITE", "STAGES", "ApplyResult", "Site", "Status", "apply_plan"]

STAGES = ("lock", "recheck", "backup", "build", "write", "replace", "verify")

#: What became of one checkpoint's repair.
Status = Literal["applied", "nothing", "refused", "dry-run", "failed", "locked"]


class ApplyResult(Record):
    """What applying a plan did to one checkpoint."""

    checkpoint: Path
    status: Status
    backup_dir: Path | None = None
    written: tuple[Path, ...] = ()
    error: str | None = None
    restored: bool | None = None  # after a failure: whether every file is back to the original
    cleaned: tuple[str, ...] = ()  # what a killed repair had left and this one removed (and stale locks cleared)
    kept_foreign: bool = False  # another process replaced a file during the repair: its version was kept
    torch_checked: bool = False  # the written files were also loaded with torch.load(weights_only=True)
    holder: str | None = None  # "locked": who holds the lock, from the lock (pid, host, since when)


def _no_fault(stage: str, path: Path) -> None:
    pass


def _check_target_path(checkpoint: Path, path: Path) -> None:
    if is_in_progress(checkpoint.name):
        raise RepairFailed(f"{checkpoint}: still being written (name ends in tmp); not touched")
    if path.parent.resolve() != checkpoint.resolve():
        raise RepairFailed(f"{path}: not directly inside {checkpoint}")
    if path.is_symlink():
        raise RepairFailed(f"{path} is a symlink: ckptfix does not replace links (copy the file in its place)")


class Site:
    """Where a checkpoint lives, for the stages that depend on it: the local disk (this class: a lock
    file, fsynced folders) or object storage (``repair/remote.py``: no lock, objects)."""

    def check_target(self, checkpoint: Any, path: Any) -> None:
        _check_target_path(checkpoint, path)

    def lock(self, checkpoint: Any, cleaned: list[str]) -> Any:
        """Take the checkpoint's lock (clearing a stale one, said in ``cleaned``)."""
        return acquire_lock(checkpoint, cleaned)

    def clean_leftovers(self, checkpoint: Any) -> list[str]:
        """Remove what killed repairs left (holding the lock); what was removed."""
        return clean_leftovers(checkpoint)

    def identity(self, path: Any) -> object:
        """The file's identity, to notice another writer (``durable.identity``); ``ANY`` where none is known."""
        return identity(path)

    def unlock(self, lock: Any) -> None:
        release_lock(lock)

    def backup_dir(self, checkpoint: Any) -> Any:
        return make_backup_dir(checkpoint)

    def write_manifest(self, backup: Any, manifest: dict[str, Any]) -> None:
        _write_manifest(backup, manifest)


LOCAL_SITE = Site()


def apply_plan(plan: RepairPlan, fault: Fault | None = None, site: Site = LOCAL_SITE) -> ApplyResult:
    """Apply ``plan`` to its checkpoint. Never raises for repair failures: see ``ApplyResult``."""
    hook: Fault = fault or _no_fault
    ck = plan.checkpoint
    if plan.refusals:
        return ApplyResult(ck, "refused", error="; ".join(r.reason for r in plan.refusals))
    actions = plan.actions
    leftovers = plan.report.checkpoint.repair_leftovers
    if not actions and not any(lo.own for lo in leftovers):
        return ApplyResult(ck, "nothing")
    cleaned: list[str] = []
    try:
        for a in actions:
            site.check_target(ck, a.path)
        hook("lock", ck)
        lock = site.lock(ck, cleaned)
    except LockHeld as exc:
        return ApplyResult(ck, "locked", error=str(exc), holder=exc.holder)
    except Exception as exc:  # nothing was written yet
        return ApplyResult(ck, "failed", error=str(exc), restored=True)
    try:  # under the lock no other repair runs: what a killed one left is provably no one's
        cleaned += site.clean_leftovers(ck)
    except OSError as exc:
        cleaned.append(f"could not remove every leftover: {exc.strerror or exc}")
    if not actions:
        site.unlock(lock)
        return ApplyResult(ck, "nothing", cleaned=tuple(cleaned))

    journal = Journal(ck)
    try:
        for a in actions:
            hook("recheck", a.path)
            before = site.identity(a.path)
            a.recheck()
            if before is not ANY:
                check_identity(a.path, before, "while ckptfix was checking it")
                journal.checked[a.path] = before
        journal.backup_dir = site.backup_dir(ck)
        manifest: dict[str, Any] = {"created_by": "ckptfix repair", "time": journal.backup_dir.name[len("backup-"):],
                                    "files": []}
        if site is LOCAL_SITE:  # ckptfix restore works on the local disk
            manifest["undo"] = f"ckptfix restore {shlex.quote(str(Path(ck).resolve()))}"
        for a in actions:
            hook("backup", a.path)
            manifest["files"].append(a.backup(journal))
        site.write_manifest(journal.backup_dir, manifest)
        written = []
        for a in actions:
            a.write(journal, hook)
            hook("verify", a.path)
            check_identity(a.path, journal.written.get(a.path, ANY), "after ckptfix wrote it")
            a.verify()
            check_identity(a.path, journal.written.get(a.path, ANY), "while ckptfix was verifying it")
            written.append(a.path)
        return ApplyResult(ck, "applied", journal.backup_dir, tuple(written), cleaned=tuple(cleaned),
                           torch_checked=torch_installed())
    except BaseException as exc:  # includes KeyboardInterrupt: restore, then report or re-raise
        error = str(exc) if isinstance(exc, CkptfixError) else f"{type(exc).__name__}: {exc}"
        restored = journal.cleanup_temps()
        for a in reversed(actions):
            restored = a.undo(journal) and restored
        if not isinstance(exc, Exception):
            raise
        foreign = any(journal.foreign(a.path) for a in actions) or "by another process" in error
        return ApplyResult(ck, "failed", journal.backup_dir, (), error, restored, tuple(cleaned), foreign)
    finally:
        site.unlock(lock)


def clean_leftovers(checkpoint: Path) -> list[str]:
    """Remove what killed repairs left in ``checkpoint`` (``model/leftovers.py``) whose names and contents
    are exactly ckptfix's own; call it holding the lock. Returns what was removed."""
    done = []
    for lo in find_leftovers(LOCAL, checkpoint):
        if not lo.own or lo.kind == "empty-lock":  # an empty lock is cleared by acquire_lock, not here
            continue
        p = checkpoint / lo.path
        if lo.kind == "temp-file" and not (TMP_FILE.match(p.name) and p.parent == checkpoint):
            continue
        if lo.kind == "incomplete-backup":
            if p.parent.name != WORK_DIR or p.is_symlink():
                continue
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)
        fsync_dir(p.parent)
        done.append(f"removed {lo.path} ({lo.kind.replace('-', ' ')} left by a killed repair)")
    return done


def _write_manifest(backup: Path, manifest: dict[str, Any]) -> None:
    mpath = backup / "manifest.json"
    mpath.write_text(json.dumps(manifest, indent=2) + "\n")
    fsync_file(mpath)
    fsync_dir(backup)
    fsync_dir(backup.parent)
