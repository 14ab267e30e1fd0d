"""Durable file operations for ``repair``: the only helpers that write into a checkpoint folder.

Every write goes to a temporary file in the same folder, is fsynced, then ``os.replace``d onto the real
name and the folder fsynced: a process killed at any point leaves the original or the complete new
file under the real name, plus at most a temporary file (named so ckptfix recognises its own).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import secrets
import shutil
import stat
from pathlib import Path
from typing import BinaryIO

from ckptfix.errors import RepairFailed
from ckptfix.formats.source.local import open_regular
from ckptfix.model.leftovers import TMP_MARKER, WORK_DIR

__all__ = [
    "ANY", "TMP_MARKER", "WORK_DIR", "FileId", "check_identity", "copy_durable", "identity", "fsync_dir", "fsync_file", "is_regular", "keep_mode", "make_backup_dir",
    "read_regular", "replace_durable", "sha256", "tmp_name", "utc_stamp", "work_dir",
]



def read_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading through the guarded open (``formats.source.local.open_regular``):
    a FIFO, device or folder put where a checkpoint file was is refused (``UnreadableFile``), never read
    (reading a FIFO blocks forever; ``/dev/zero`` never ends)."""
    fd, _size = open_regular(path)
    return os.fdopen(fd, "rb")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with read_regular(path) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def utc_stamp() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")


def tmp_name(path: Path) -> Path:
    """A temporary name beside ``path``. torch.save names a zip's entries after the file's stem, so the
    stem stays (``scheduler``, as accelerate writes it)."""
    return path.with_name(f"{path.name.rsplit('.', 1)[0]}{TMP_MARKER}{secrets.token_hex(4)}")


def copy_durable(src: Path, dst: Path) -> None:
    """Copy ``src`` (a regular file, through the guarded open) to a new file ``dst`` with ``src``'s permission
    bits (a 0600 original must not get a world-readable backup), and fsync it (``dst`` must not exist)."""
    with read_regular(src) as fi, open(dst, "xb") as fo:
        os.fchmod(fo.fileno(), stat.S_IMODE(os.fstat(fi.fileno()).st_mode))
        for chunk in iter(lambda: fi.read(1 << 20), b""):
            fo.write(chunk)
        fo.flush()
        os.fsync(fo.fileno())


def is_regular(path: Path) -> bool | None:
    """Whether ``path`` is a regular file (not following a final symlink; ``lstat`` never blocks); None
    when nothing is there."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return None


def keep_mode(original: Path, new: Path) -> None:
    """Give ``new`` the permission bits (and, where allowed, the owner) of ``original``."""
    if not original.exists():
        return
    shutil.copymode(original, new)
    st = os.stat(original)
    try:
        os.chown(new, st.st_uid, st.st_gid)
    except (PermissionError, AttributeError):
        pass  # only root may give a file away; the mode is what matters for reading it


#: A file's identity: (device, inode, size, mtime in ns); another process replacing or rewriting the file
#: changes it. None: nothing there.
FileId = tuple[int, int, int, int]
ANY: object = object()  # ``expect`` for "whatever is there"


def identity(path: Path) -> FileId | None:
    """``path``'s identity (``lstat``: never blocks, never follows a final symlink); None when absent."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def check_identity(path: Path, expect: object, when: str) -> None:
    """``RepairFailed`` unless ``path`` is still the file the repair checked (``expect``, from ``identity``)."""
    if expect is ANY:
        return
    now = identity(path)
    if now != expect:
        what = "removed" if now is None else "created" if expect is None else "replaced or rewritten"
        raise RepairFailed(f"{path} was {what} by another process {when}: its version is kept, ckptfix "
                           "replaced nothing. Make sure no other program writes the checkpoint, then run repair again")


def replace_durable(tmp: Path, dest: Path, expect: object = ANY) -> FileId | None:
    """``os.replace(tmp, dest)`` (atomic), then fsync the folder so the new name survives a crash.

    ``expect``: ``dest``'s identity when the repair checked it; another process that replaced ``dest``
    since is detected right before the rename (``RepairFailed``, nothing replaced; the window left is the
    two system calls between the ``lstat`` and the rename). Returns the new file's identity (a rename
    keeps the inode, size and mtime), which ``verify`` and ``undo`` compare with."""
    check_identity(dest, expect, "while ckptfix was writing its new version")
    new = identity(tmp)
    os.replace(tmp, dest)
    fsync_dir(dest.parent)
    return new


def work_dir(checkpoint: Path) -> Path:
    """``<checkpoint>/.ckptfix``, created if needed; refuses a symlink or a non-folder there."""
    d = checkpoint / WORK_DIR
    if d.is_symlink() or (d.exists() and not d.is_dir()):
        raise RepairFailed(f"{d} is a symlink or not a folder: ckptfix will not write through it")
    d.mkdir(exist_ok=True)
    return d


def make_backup_dir(checkpoint: Path) -> Path:
    """A new ``.ckptfix/backup-<UTC time>/`` folder."""
    d = work_dir(checkpoint)
    stamp = utc_stamp()
    for i in range(100):
        b = d / (f"backup-{stamp}" if i == 0 else f"backup-{stamp}-{i}")
        try:
            b.mkdir()
            fsync_dir(d)
            return b
        except FileExistsError:
            continue
    raise RepairFailed(f"could not create a backup folder in {d}")
