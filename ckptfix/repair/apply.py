"""Carry out a ``RepairPlan``: the only code in ckptfix that writes into a checkpoint.

Every action of the plan (``actions/``: scheduler rewrites and creations, trainer state rewrites,
optimizer lr patches) goes through the same stages, in the plan's order, reading and writing through the
checkpoint's ``WritableStore`` (the local disk, or object storage); each name is a ``stage`` passed to the
``fault`` hook, which tests use to inject a failure or a kill between any two steps:

``lock``       ``<checkpoint>/.ckptfix/lock`` (``lock.py``): one repair at a time (a store that ``locks``).
``recheck``    every file to touch still holds what the plan was computed from.
``backup``     ``.ckptfix/backup-<UTC time>/``: what each action needs to undo itself, and
               ``manifest.json`` saying what was done.
``build``, ``write``, ``replace``   each action writes its new file whole (``WritableStore.replace``: on
               the local disk beside the old one, ``os.replace``d onto the real name).
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
from ckptfix.formats.source.durable import DISK, check_identity, fsync_dir
from ckptfix.formats.source.writable import ANY, WritableStore
from ckptfix.model.discover import is_in_progress
from ckptfix.model.leftovers import TMP_FILE, WORK_DIR, find_leftovers
from ckptfix.records import Record
from ckptfix.repair.actions.interface import Fault, Journal
from ckptfix.repair.actions.torch_check import torch_installed
from ckptfix.repair.lock import acquire_lock, release_lock
from ckptfix.repair.plan import RepairPlan
from ckptfix.repair.workdir import make_backup_dir

__all__ = ["STAGES", "ApplyResult", "Status", "apply_plan", "clean_leftovers"]

STAGES = ("lock", "recheck", "backup", "build", "write", "replace", "verify")

#: What became of one checkpoint's repair.
Status = Literal["applied", "nothing", "refused", "dry-run", "failed", "locked"]


class ApplyResult(Record):
    """What applying a plan did to one checkpoint (paths: the store's)."""

    checkpoint: Any
    status: Status
    backup_dir: Any = None
    written: tuple[Any, ...] = ()
    error: str | None = None
    restored: bool | None = None  # after a failure: whether every file is back to the original
    cleaned: tuple[str, ...] = ()  # what a killed repair had left and this one removed (and stale locks cleared)
    kept_foreign: bool = False  # another process replaced a file during the repair: its version was kept
    torch_checked: bool = False  # the written files were also loaded with torch.load(weights_only=True)
    holder: str | None = None  # "locked": who holds the lock, from the lock (pid, host, since when)


def _no_fault(stage: str, path: Path) -> None:
    pass


def _check_target(store: WritableStore, checkpoint: Any, path: Any) -> None:
    if is_in_progress(checkpoint.name):
        raise RepairFailed(f"{checkpoint}: still being written (name ends in tmp); not touched")
    if path.parent != checkpoint:
        raise RepairFailed(f"{path}: not directly inside {checkpoint}")
    if store.link_target(path) is not None:
        raise RepairFailed(f"{path} is a symlink: ckptfix does not replace links (copy the file in its place)")


def apply_plan(plan: RepairPlan, fault: Fault | None = None, store: WritableStore = DISK) -> ApplyResult:
    """Apply ``plan`` to its checkpoint through ``store``. Never raises for repair failures: see ``ApplyResult``."""
    hook: Fault = fault or _no_fault
    ck = plan.checkpoint
    if plan.refusals:
        return ApplyResult(ck, "refused", error="; ".join(r.reason for r in plan.refusals))
    actions = plan.actions
    leftovers = plan.report.checkpoint.repair_leftovers
    if not actions and not any(lo.own for lo in leftovers):
        return ApplyResult(ck, "nothing")
    cleaned: list[str] = []
    lock = None
    try:
        for a in actions:
            _check_target(store, ck, a.path)
        hook("lock", ck)
        if store.locks:
            lock = acquire_lock(ck, cleaned)
    except LockHeld as exc:
        return ApplyResult(ck, "locked", error=str(exc), holder=exc.holder)
    except Exception as exc:  # nothing was written yet
        return ApplyResult(ck, "failed", error=str(exc), restored=True)
    try:
        return _apply_locked(plan, hook, store, cleaned)
    finally:
        if lock is not None:
            release_lock(lock)


def _apply_locked(plan: RepairPlan, hook: Fault, store: WritableStore, cleaned: list[str]) -> ApplyResult:
    """The stages after ``lock``; undoes every action on any failure."""
    ck, actions = plan.checkpoint, plan.actions
    if store.locks:  # under the lock no other repair runs: what a killed one left is provably no one's
        try:
            cleaned += clean_leftovers(ck)
        except OSError as exc:
            cleaned.append(f"could not remove every leftover: {exc.strerror or exc}")
    if not actions:
        return ApplyResult(ck, "nothing", cleaned=tuple(cleaned))
    journal = Journal(ck, store)
    try:
        for a in actions:
            hook("recheck", a.path)
            before = store.identity(a.path)
            a.recheck(journal)
            if before is not ANY:
                check_identity(a.path, before, "while ckptfix was checking it", store.identity(a.path))
                journal.checked[a.path] = before
        journal.backup_dir = make_backup_dir(ck, store)
        manifest: dict[str, Any] = {"created_by": "ckptfix repair", "time": journal.backup_dir.name[len("backup-"):],
                                    "files": []}
        if store.locks:  # ckptfix restore works where a repair can lock the checkpoint (the local disk)
            manifest["undo"] = f"ckptfix restore {shlex.quote(str(Path(ck).resolve()))}"
        for a in actions:
            hook("backup", a.path)
            manifest["files"].append(a.backup(journal))
        store.create(journal.backup_dir / "manifest.json", (json.dumps(manifest, indent=2) + "\n").encode())
        written = []
        for a in actions:
            a.write(journal, hook)
            hook("verify", a.path)
            expect = journal.written.get(a.path, ANY)
            check_identity(a.path, expect, "after ckptfix wrote it", store.identity(a.path))
            a.verify(journal)
            check_identity(a.path, expect, "while ckptfix was verifying it", store.identity(a.path))
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
