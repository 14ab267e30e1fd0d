"""One repair at a time per checkpoint: ``.ckptfix/lock``, holding its owner from the moment it exists."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from ckptfix.errors import LockHeld
from ckptfix.repair.durable import fsync_dir, utc_stamp, work_dir

__all__ = ["LOCK_NAME", "acquire_lock", "release_lock"]

LOCK_NAME = "lock"


def acquire_lock(checkpoint: Path) -> Path:
    """Take ``<checkpoint>/.ckptfix/lock`` (``O_CREAT | O_EXCL``, pid, host and time inside); ``LockHeld``
    names the holder when another repair has it, or says how to clear a stale one."""
    d = work_dir(checkpoint)
    lock = d / LOCK_NAME
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(lock, flags, 0o644)
    except FileExistsError:
        raise LockHeld(_lock_message(lock)) from None
    with os.fdopen(fd, "w") as f:
        json.dump({"pid": os.getpid(), "host": socket.gethostname(), "time": utc_stamp()}, f)
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(d)
    return lock


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
        fsync_dir(lock.parent)
    except FileNotFoundError:
        pass
