"""One repair at a time per checkpoint: ``.ckptfix/lock``, holding its owner from the moment it exists.

The owner (pid, host, time) is written and fsynced into ``.ckptfix/lock.<pid>.<hex>.tmp`` first, then
``os.link``ed to ``lock``: the link is atomic and fails when a lock exists, so ``lock`` is never seen
empty or half-written (a full disk fails the temporary file, before any lock exists). Filesystems
without hard links fall back to ``O_CREAT | O_EXCL``.

A lock found in the way is cleared when it provably belongs to nobody: its owner is a process of this
host that no longer runs, or it is empty or unreadable and older than ``GRACE_SECONDS`` (an older ckptfix
could be between creating and filling it). Clearing renames it to a unique name first and checks it
is still the same file (inode) before removing it, so two repairs clearing at once cannot remove each
other's fresh lock.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import stat
import time
from pathlib import Path

from ckptfix.errors import LockHeld, UnreadableFile
from ckptfix.formats.source.durable import fsync_dir, read_regular
from ckptfix.model.leftovers import LOCK_NAME
from ckptfix.repair.workdir import utc_stamp, work_dir

__all__ = ["GRACE_SECONDS", "LOCK_NAME", "acquire_lock", "release_lock"]

GRACE_SECONDS = 60.0
_MAX_LOCK = 4096


def acquire_lock(checkpoint: Path, notes: list[str] | None = None) -> Path:
    """Take ``<checkpoint>/.ckptfix/lock``; ``LockHeld`` names the holder when another repair has it.
    A lock that belongs to nobody (see the module docstring) is cleared first, and ``notes`` says so."""
    d = work_dir(checkpoint)
    lock = d / LOCK_NAME
    owner = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "time": utc_stamp()})
    tmp = d / f"{LOCK_NAME}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o644)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(owner)
            f.flush()
            os.fsync(f.fileno())
        for attempt in range(2):
            try:
                _link(tmp, lock, owner)
                fsync_dir(d)
                return lock
            except FileExistsError:
                cleared = _clear_if_nobodys(lock) if attempt == 0 else None
                if cleared is None:
                    raise _held(lock) from None
                if cleared and notes is not None:
                    notes.append(cleared)
        raise _held(lock)
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass


def _link(tmp: Path, lock: Path, owner: str) -> None:
    try:
        os.link(tmp, lock)
    except FileExistsError:
        raise
    except OSError:  # no hard links here (some network or FUSE filesystems): exclusive create instead
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(owner)
            f.flush()
            os.fsync(f.fileno())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _raw(lock: Path) -> bytes | None:
    try:
        with read_regular(lock) as f:
            return f.read(_MAX_LOCK)
    except (OSError, UnreadableFile):
        return None


def _owner(lock: Path) -> tuple[dict | None, os.stat_result | None, bytes | None]:
    """The lock's owner record (None when empty or unreadable), its ``lstat`` and its bytes."""
    try:
        st = os.lstat(lock)
    except FileNotFoundError:
        return None, None, None
    if not stat.S_ISREG(st.st_mode):
        return None, st, None
    raw = _raw(lock)
    try:
        info = json.loads(raw or b"")
        return {"pid": int(info["pid"]), "host": str(info["host"]), "time": str(info["time"])}, st, raw
    except (ValueError, KeyError, TypeError):
        return None, st, raw


def _clear_if_nobodys(lock: Path) -> str | None:
    """Remove ``lock`` when it belongs to nobody; what was cleared (for the report), else None."""
    info, st, raw = _owner(lock)
    if st is None:
        return ""  # gone meanwhile: try again
    if not stat.S_ISREG(st.st_mode):
        return None  # a folder or FIFO named lock: not ours to remove
    if info is None:
        if time.time() - st.st_mtime < GRACE_SECONDS:
            return None
        why = f"cleared an {'empty' if st.st_size == 0 else 'unreadable'} lock {lock} (no owner; left by a killed repair)"
    elif info["host"] == socket.gethostname() and not _pid_alive(info["pid"]):
        why = (f"cleared the stale lock {lock} of pid {info['pid']} (taken {info['time']}; that process no longer "
               "runs: a killed repair)")
    else:
        return None
    grave = lock.with_name(f"{LOCK_NAME}.stale-{secrets.token_hex(4)}")
    try:
        os.rename(lock, grave)
    except FileNotFoundError:
        return why
    now = os.lstat(grave)
    # the same file we judged: inode, size and mtime (a freed inode can be reused at once) and the same bytes;
    # otherwise another repair cleared it and took its own lock between our look and the rename
    if (now.st_ino, now.st_size, now.st_mtime_ns) != (st.st_ino, st.st_size, st.st_mtime_ns) or _raw(grave) != raw:
        try:
            os.link(grave, lock)
        except OSError:
            pass
        grave.unlink()
        return None
    grave.unlink()
    fsync_dir(lock.parent)
    return why


def _held(lock: Path) -> LockHeld:
    """The error naming who holds ``lock`` (the owner it records) and what to do."""
    info, st, _raw_bytes = _owner(lock)
    if st is not None and not stat.S_ISREG(st.st_mode):
        return LockHeld(f"{lock} is not a regular file: ckptfix will not remove it. Remove it and run repair again")
    if info is None:
        return LockHeld(f"{lock} exists but holds no owner and was written less than {GRACE_SECONDS:.0f} s ago: "
                        "another repair may be starting. Run again in a minute")
    holder = f"pid {info['pid']} on {info['host']} since {info['time']}"
    here = info["host"] == socket.gethostname()
    return LockHeld(f"{lock} is held by {holder}: another repair of this checkpoint is running"
                    + ("" if here else " on another host (a lock from another host is never cleared as stale: "
                       "ckptfix cannot see its processes)")
                    + ". Wait for it; if it is not running, remove the lock file", holder)


def release_lock(lock: Path) -> None:
    try:
        lock.unlink()
        fsync_dir(lock.parent)
    except FileNotFoundError:
        pass
