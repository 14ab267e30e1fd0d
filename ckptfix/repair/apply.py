"""Carry out a ``RepairPlan``: the only code in ckptfix that writes into a checkpoint.

Order of operations for one checkpoint (each name is a ``stage`` passed to the ``fault`` hook, which
tests use to inject a failure or a kill between any two steps):

``lock``       create ``<checkpoint>/.ckptfix/lock`` with ``O_CREAT | O_EXCL`` (pid, host, time inside);
               an existing lock refuses the repair and says how to clear a stale one.
``recheck``    decode every file to touch again with ckptfix's safe reader: it must still hold what
               the plan was computed from (no other writer in between).
``backup``     copy each file byte for byte to ``.ckptfix/backup-<UTC time>/<name>``, fsync it and the
               folder, compare SHA-256 with the original; ``manifest.json`` there says what was done.
``build``      ``torch.load(path, weights_only=True)`` of the original (it passed the safe reader) with
               the plan's changes applied, or the plan's complete state for a created file.
``write``      ``torch.save`` to ``<stem>.ckptfix-tmp-<random>`` in the checkpoint folder (so the zip
               entries keep accelerate's ``scheduler/`` prefix), then ``fsync``.
``replace``    ``os.replace`` onto the real name (atomic), then fsync the folder.
``verify``     decode the new file with ckptfix's reader *and* ``torch.load(weights_only=True)``; both
               must equal the plan's target exactly (values and types).
``repair --optimizer-lr`` adds, after the scheduler files and under the same lock and stages, an
in-place patch of ``optimizer*.bin`` (``optimizer_lr.py``): its backup is a patch record, not a copy.

On any exception after ``lock``: temp files are removed, replaced files are restored from the backup
(by the same temp + fsync + ``os.replace`` route, then checked against the original's hash), created
files are removed, and the lock is released. A process killed outright leaves, at every point, the
original or the complete new file under the real name (``os.replace`` is the only step that changes
it), plus at most a temp file and the lock.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ckptfix.errors import CkptfixError, UnreadableFile
from ckptfix.formats.torchfile import open_torch_file
from ckptfix.repair.plan import ABSENT, FilePlan, RepairPlan, same

STAGES = ("lock", "recheck", "backup", "build", "write", "replace", "verify")
WORK_DIR = ".ckptfix"
LOCK_NAME = "lock"

Fault = Callable[[str, Path], None]


class RepairFailed(CkptfixError):
    """A repair step failed; the checkpoint was restored (see ``restored``)."""


class LockHeld(CkptfixError):
    """Another repair holds the lock, or a stale lock was left by a killed one."""


@dataclass
class ApplyResult:
    checkpoint: Path
    status: str  # "applied" | "nothing" | "refused" | "dry-run" | "failed" | "locked"
    backup_dir: Path | None = None
    written: list[Path] = field(default_factory=list)
    error: str | None = None
    restored: bool | None = None  # after a failure: whether every file is back to the original


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _utc_stamp() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def work_dir(checkpoint: Path) -> Path:
    """``<checkpoint>/.ckptfix``, created if needed; refuses a symlink or a non-folder there."""
    d = checkpoint / WORK_DIR
    if d.is_symlink() or (d.exists() and not d.is_dir()):
        raise RepairFailed(f"{d} is a symlink or not a folder: ckptfix will not write through it")
    d.mkdir(exist_ok=True)
    return d


def acquire_lock(checkpoint: Path) -> Path:
    d = work_dir(checkpoint)
    lock = d / LOCK_NAME
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(lock, flags, 0o644)
    except FileExistsError:
        raise LockHeld(_lock_message(lock)) from None
    with os.fdopen(fd, "w") as f:
        json.dump({"pid": os.getpid(), "host": socket.gethostname(), "time": _utc_stamp()}, f)
        f.flush()
        os.fsync(f.fileno())
    _fsync_dir(d)
    return lock


def _lock_message(lock: Path) -> str:
    try:
        info = json.loads(lock.read_text())
        pid, host, when = int(info["pid"]), str(info["host"]), str(info["time"])
    except (OSError, ValueError, KeyError, TypeError):
        return (f"{lock} exists but is unreadable: another repair may be running. If none is, remove "
                f"the file and run again")
    if host == socket.gethostname() and not _pid_alive(pid):
        return (f"stale lock {lock}: taken by pid {pid} at {when}, which is no longer running (a repair was "
                f"killed; the checkpoint holds the original or the complete new scheduler file). "
                f"Remove the lock file and run repair again")
    return (f"{lock} is held by pid {pid} on {host} since {when}: another repair of this checkpoint is running. "
            f"Wait for it; if it is not running, remove the lock file")


def release_lock(lock: Path) -> None:
    try:
        lock.unlink()
        _fsync_dir(lock.parent)
    except FileNotFoundError:
        pass


def _check_target_path(checkpoint: Path, path: Path) -> None:
    if checkpoint.name.endswith("tmp"):
        raise RepairFailed(f"{checkpoint}: still being written (name ends in tmp); not touched")
    if path.parent.resolve() != checkpoint.resolve():
        raise RepairFailed(f"{path}: not directly inside {checkpoint}")
    if path.is_symlink():
        raise RepairFailed(f"{path} is a symlink: ckptfix does not replace links (copy the file in its place)")


def _decoded(path: Path) -> Any:
    with open_torch_file(path) as tf:
        return tf.obj


def _copy_durable(src: Path, dst: Path) -> None:
    with open(src, "rb") as fi, open(dst, "xb") as fo:
        for chunk in iter(lambda: fi.read(1 << 20), b""):
            fo.write(chunk)
        fo.flush()
        os.fsync(fo.fileno())


def _tmp_name(path: Path) -> Path:
    # torch.save names the zip's entries after the file's stem: keep "scheduler" like accelerate.
    return path.with_name(f"{path.name.rsplit('.', 1)[0]}.ckptfix-tmp-{secrets.token_hex(4)}")


def _torch_save_durable(obj: dict[str, Any], dest: Path, tmp: Path, fault: Fault) -> None:
    import torch

    torch.save(obj, tmp)
    _fsync_file(tmp)
    fault("replace", dest)
    os.replace(tmp, dest)
    _fsync_dir(dest.parent)


def apply_plan(plan: RepairPlan, fault: Fault | None = None) -> ApplyResult:
    """Apply ``plan`` to its checkpoint. Never raises for repair failures: see ``ApplyResult``."""
    hook: Fault = fault or (lambda stage, path: None)
    ck = plan.checkpoint
    if plan.refusals:
        return ApplyResult(ck, "refused", error="; ".join(r.reason for r in plan.refusals))
    todo = plan.to_write
    patches = plan.to_patch
    if not todo and not patches:
        return ApplyResult(ck, "nothing")
    from ckptfix.repair import optimizer_lr as olr  # imports this module

    try:
        for fp in todo:
            _check_target_path(ck, fp.path)
        for op in patches:
            _check_target_path(ck, op.path)
        hook("lock", ck)
        lock = acquire_lock(ck)
    except LockHeld as exc:
        return ApplyResult(ck, "locked", error=str(exc))
    except Exception as exc:  # nothing was written yet
        return ApplyResult(ck, "failed", error=str(exc), restored=True)

    result = ApplyResult(ck, "failed")
    originals: dict[Path, str] = {}  # path -> sha256 of the original (existing files only)
    replaced: list[FilePlan] = []
    temps: list[Path] = []
    patched: list[tuple[Any, dict[str, Any]]] = []  # (OptimizerPatch, record) once os.replace may run
    try:
        # recheck
        for fp in todo:
            hook("recheck", fp.path)
            if fp.action == "rewrite":
                now = _decoded(fp.path)
                if not same(now, fp.original):
                    raise RepairFailed(f"{fp.path} changed since the plan was made; run repair again")
            elif fp.path.exists() and not fp.replaces_unreadable:
                raise RepairFailed(f"{fp.path} appeared since the plan was made; run repair again")
        for op in patches:
            hook("recheck", op.path)
            olr.recheck(op)
        # backup
        backup = _make_backup_dir(ck)
        result.backup_dir = backup
        manifest: dict[str, Any] = {"created_by": "ckptfix repair", "time": backup.name[len("backup-"):], "files": []}
        for fp in todo:
            hook("backup", fp.path)
            entry: dict[str, Any] = {"file": fp.path.name, "action": fp.action}
            if fp.path.exists():
                digest = sha256(fp.path)
                _copy_durable(fp.path, backup / fp.path.name)
                if sha256(backup / fp.path.name) != digest:
                    raise RepairFailed(f"backup of {fp.path} does not match the original")
                originals[fp.path] = digest
                entry["sha256"] = digest
                entry["restore"] = f"cp {WORK_DIR}/{backup.name}/{fp.path.name} {fp.path.name}"
            else:
                entry["restore"] = f"rm {fp.path.name}  # did not exist before"
            entry["changes"] = [{"key": c.key, "old": repr(c.old), "new": repr(c.new), "fixes": list(c.fixes)}
                                for c in fp.changes]
            manifest["files"].append(entry)
        records = []
        for op in patches:
            hook("backup", op.path)
            records.append(olr.backup(op, backup))
            manifest["files"].append(records[-1])
        mpath = backup / "manifest.json"
        mpath.write_text(json.dumps(manifest, indent=2) + "\n")
        _fsync_file(mpath)
        _fsync_dir(backup)
        _fsync_dir(backup.parent)

        for fp in todo:
            hook("build", fp.path)
            obj = _build(fp)
            tmp = _tmp_name(fp.path)
            temps.append(tmp)
            hook("write", fp.path)
            _torch_save_durable(obj, fp.path, tmp, _ReplaceHook(hook, replaced, fp))
            temps.remove(tmp)
            hook("verify", fp.path)
            _verify(fp)
            result.written.append(fp.path)
        for op, rec in zip(patches, records):
            hook("build", op.path)
            hook("write", op.path)
            olr.write(op, rec, hook, lambda op=op, rec=rec: patched.append((op, rec)), temps)
            hook("verify", op.path)
            olr.verify(op)
            result.written.append(op.path)
        result.status = "applied"
        return result
    except BaseException as exc:  # includes KeyboardInterrupt: restore, then report or re-raise
        result.error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, CkptfixError) else str(exc)
        result.written = []
        restored = olr.undo(patched)
        result.restored = _restore(replaced, originals, result.backup_dir, temps) and restored
        if not isinstance(exc, Exception):
            raise
        return result
    finally:
        release_lock(lock)


class _ReplaceHook:
    """Calls the fault hook at ``replace`` and records the file as replaced once ``os.replace`` may run."""

    def __init__(self, hook: Fault, replaced: list[FilePlan], fp: FilePlan):
        self.hook, self.replaced, self.fp = hook, replaced, fp

    def __call__(self, stage: str, path: Path) -> None:
        self.hook(stage, path)
        self.replaced.append(self.fp)


def _make_backup_dir(ck: Path) -> Path:
    d = work_dir(ck)
    stamp = _utc_stamp()
    for i in range(100):
        b = d / (f"backup-{stamp}" if i == 0 else f"backup-{stamp}-{i}")
        try:
            b.mkdir()
            _fsync_dir(d)
            return b
        except FileExistsError:
            continue
    raise RepairFailed(f"could not create a backup folder in {d}")


def _build(fp: FilePlan) -> dict[str, Any]:
    if fp.action == "create":
        return fp.target
    import torch

    loaded = torch.load(fp.path, weights_only=True)
    if not isinstance(loaded, dict) or not same(loaded, fp.original):
        raise RepairFailed(f"{fp.path}: torch.load(weights_only=True) gives other values than ckptfix's reader")
    out = dict(loaded)
    for c in fp.changes:
        if c.new is ABSENT:
            out.pop(c.key, None)
        else:
            out[c.key] = c.new
    return out


def _verify(fp: FilePlan) -> None:
    import torch

    want = fp.target
    try:
        ours = _decoded(fp.path)
    except UnreadableFile as exc:
        raise RepairFailed(f"verification: ckptfix cannot read the new {fp.path.name}: {exc}") from None
    if not same(ours, want):
        raise RepairFailed(f"verification: the new {fp.path.name} decodes to other values than planned")
    theirs = torch.load(fp.path, weights_only=True)
    if not same(theirs, want):
        raise RepairFailed(f"verification: torch.load(weights_only=True) of the new {fp.path.name} differs from the plan")


def _restore(replaced: list[FilePlan], originals: dict[Path, str], backup: Path | None, temps: list[Path]) -> bool:
    ok = True
    for t in temps:
        try:
            t.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            ok = False
    for fp in reversed(replaced):
        try:
            if fp.path in originals:
                assert backup is not None
                if fp.path.exists() and sha256(fp.path) == originals[fp.path]:
                    continue  # os.replace never ran
                tmp = _tmp_name(fp.path)
                _copy_durable(backup / fp.path.name, tmp)
                os.replace(tmp, fp.path)
                _fsync_dir(fp.path.parent)
                ok = ok and sha256(fp.path) == originals[fp.path]
            else:
                try:
                    fp.path.unlink()
                    _fsync_dir(fp.path.parent)
                except FileNotFoundError:
                    pass
        except Exception:
            ok = False
    return ok
