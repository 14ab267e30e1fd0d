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
from pathlib import Path

from ckptfix.errors import RepairFailed

__all__ = [
    "TMP_MARKER", "WORK_DIR", "copy_durable", "fsync_dir", "fsync_file", "keep_mode", "make_backup_dir",
    "put_back", "replace_durable", "sha256", "sha256_bytes", "tmp_name", "utc_stamp", "work_dir", "write_new",
]

WORK_DIR = ".ckptfix"  # inside the checkpoint: never looks like a checkpoint (cli-contract.md)
TMP_MARKER = ".ckptfix-tmp-"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
    """Copy ``src`` to a new file ``dst`` and fsync it (``dst`` must not exist)."""
    with open(src, "rb") as fi, open(dst, "xb") as fo:
        for chunk in iter(lambda: fi.read(1 << 20), b""):
            fo.write(chunk)
        fo.flush()
        os.fsync(fo.fileno())


def write_new(dst: Path, data: bytes) -> None:
    """Write ``data`` to a new file ``dst`` and fsync it (``dst`` must not exist)."""
    with open(dst, "xb") as fo:
        fo.write(data)
        fo.flush()
        os.fsync(fo.fileno())


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


def replace_durable(tmp: Path, dest: Path) -> None:
    """``os.replace(tmp, dest)`` (atomic), then fsync the folder so the new name survives a crash."""
    os.replace(tmp, dest)
    fsync_dir(dest.parent)


def put_back(copy: Path, dest: Path, digest: str) -> None:
    """Put a byte-identical copy (a backup) back under ``dest``: temp file beside it, fsync, its SHA-256
    checked against ``digest`` before ``os.replace`` and again after. ``RepairFailed`` when the copy
    is not the original (nothing replaced) or the result is not."""
    tmp = tmp_name(dest)
    try:
        copy_durable(copy, tmp)
        if sha256(tmp) != digest:
            raise RepairFailed(f"{copy} is not the original of {dest.name} (SHA-256 differs): not restored")
        keep_mode(dest, tmp)
        replace_durable(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    if sha256(dest) != digest:
        raise RepairFailed(f"{dest}: after restoring, the SHA-256 is not the original's")


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
