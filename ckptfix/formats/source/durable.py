"""The local disk, written: ``DISK`` (``LocalDisk``, the ``WritableStore`` of the local disk) and the durable
file operations under it, the only code that writes into a checkpoint folder on disk.

Every write goes to a temporary file in the same folder, is fsynced, then ``os.replace``d onto the real
name and the folder fsynced: a process killed at any point leaves the original or the complete new
file under the real name, plus at most a temporary file (named so ckptfix recognises its own).

``Folder`` is a folder opened once, by descriptor: names inside it are opened, created, renamed and
removed relative to it and never through a symlink. ``LocalDisk`` writes through it (a new version of a
file, a backup put back, a patched copy, a removal); ``restore`` reads its untrusted ``.ckptfix/`` and writes
the checkpoint only through it.

Imported only by what writes (``repair``, ``restore``): the gate never loads it.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from ckptfix.errors import RepairFailed, ResourceLimit, UnreadableFile
from ckptfix.formats.source.interface import Store
from ckptfix.formats.source.local import TMP_MARKER, LocalStore, open_dir_at, open_regular, open_regular_at
from ckptfix.formats.source.writable import ANY, WritableStore

__all__ = [
    "ANY", "DISK", "TMP_MARKER", "FileId", "Folder", "LocalDisk", "check_identity", "copy_durable", "fsync_dir",
    "identity", "is_regular", "patch_copy", "put_back", "read_regular", "sha256", "sha256_bytes", "temp_name",
    "writable",
]

_CHUNK = 1 << 20


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


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(name: str) -> str:
    """A temporary name for a file named ``name``. torch.save names a zip's entries after the file's stem, so
    the stem stays (``scheduler``, as accelerate writes it)."""
    return f"{name.rsplit('.', 1)[0]}{TMP_MARKER}{secrets.token_hex(4)}"


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


#: A file's identity: (device, inode, size, mtime in ns); another process replacing or rewriting the file
#: changes it. None: nothing there. (``ANY``, from the store interface: "whatever is there".)
FileId = tuple[int, int, int, int]


def identity(path: Path) -> FileId | None:
    """``path``'s identity (``lstat``: never blocks, never follows a final symlink); None when absent."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def check_identity(path: Path, expect: object, when: str, now: object = ANY) -> None:
    """``RepairFailed`` unless ``path`` is still the file the repair checked (``expect``, from ``identity``);
    ``now``: its identity when the caller has it (``Folder.identity``), else ``identity(path)``."""
    if expect is ANY:
        return
    if now is ANY:
        now = identity(path)
    if now != expect:
        what = "removed" if now is None else "created" if expect is None else "replaced or rewritten"
        raise RepairFailed(f"{path} was {what} by another process {when}: its version is kept, ckptfix "
                           "replaced nothing. Make sure no other program writes the checkpoint, then run repair again")


def put_back(src: Folder, dst: Folder, name: str, digest: str, expect: object = ANY, limit: int | None = None) -> None:
    """Put the byte-identical copy ``name`` in ``src`` (a backup folder) back under ``name`` in ``dst``: temp file
    beside it, fsync, its SHA-256 checked against ``digest`` before ``os.replace`` and again after. Neither
    the copy nor the file replaced is reached through a symlink. ``expect``: the file's identity when the
    caller last checked it (another process's version is never replaced); ``limit``: the largest copy read.
    ``RepairFailed`` when the copy is not the original (nothing replaced) or the result is not."""
    fi, size = src.open_file(name)
    tmp = temp_name(name)
    try:
        if limit is not None and size > limit:
            raise RepairFailed(f"{src.path / name}: {size:,} bytes, more than ckptfix restores ({limit:,}): not restored")
        now = dst.lstat(name)
        fo = dst.create(tmp, stat.S_IMODE((now or os.fstat(fi)).st_mode))
        h = hashlib.sha256()
        try:
            if now is not None:
                _chown(fo, now)
            _copy_fd(fi, fo, size, src.path / name, h)
            os.fsync(fo)
        finally:
            os.close(fo)
        if h.hexdigest() != digest:
            raise RepairFailed(f"{src.path / name} is not the original of {name} (SHA-256 differs): not restored")
        dst.replace(tmp, name, expect)
    finally:
        os.close(fi)
        dst.discard(tmp)
    if dst.sha256(name)[0] != digest:
        raise RepairFailed(f"{dst.path / name}: after restoring, the SHA-256 is not the original's")


def patch_copy(folder: Folder, name: str, writes: list[tuple[int, bytes, bytes]], size: int, want_sha: str,
               hook: Callable[[], None], on_replace: Callable[[], None], temps: list[Path],
               expect: object = ANY) -> FileId | None:
    """Copy ``name`` to a temp file beside it, replace ``old`` by ``new`` at each offset (each checked to lie
    inside the file, whose size must be ``size``), fsync, check the copy's SHA-256 is ``want_sha``, call
    ``hook``, check that no other process replaced the file since it had identity ``expect``, call
    ``on_replace`` and ``os.replace`` the copy onto ``name``. Returns the new file's identity. The temp file
    is in ``temps`` while it exists, and removed on any failure."""
    fi, now = folder.open_file(name)
    tmp = temp_name(name)
    tmp_path = folder.path / tmp
    try:
        if now != size:
            raise RepairFailed(f"{folder.path / name} is {now:,} bytes, not the {size:,} the patch was made for")
        for offset, old, new in writes:
            if offset < 0 or len(old) != len(new) or offset + len(old) > size:
                raise RepairFailed(f"{folder.path / name}: a patch at byte {offset} does not lie inside the file")
        st = os.fstat(fi)
        fo = folder.create(tmp, stat.S_IMODE(st.st_mode))
        temps.append(tmp_path)
        try:
            _chown(fo, st)
            _copy_fd(fi, fo, size, folder.path / name)
            for offset, old, new in writes:
                if os.pread(fo, len(old), offset) != old:
                    raise RepairFailed(f"{folder.path / name}: byte {offset} does not hold what the patch expects")
                os.pwrite(fo, new, offset)
            os.fsync(fo)
        finally:
            os.close(fo)
        if folder.sha256(tmp)[0] != want_sha:
            raise RepairFailed(f"{folder.path / name}: the patched copy's SHA-256 is not the planned one")
        hook()
        check_identity(folder.path / name, expect, "while ckptfix was writing its patched copy", folder.identity(name))
        on_replace()
        new_id = folder.replace(tmp, name)
    except BaseException:
        folder.discard(tmp)
        if tmp_path in temps:
            temps.remove(tmp_path)
        raise
    finally:
        os.close(fi)
    temps.remove(tmp_path)
    return new_id


def _chown(fd: int, st: os.stat_result) -> None:
    try:
        os.fchown(fd, st.st_uid, st.st_gid)
    except (PermissionError, AttributeError):
        pass  # only root may give a file away; the mode is what matters for reading it


def _copy_fd(fi: int, fo: int, size: int, what: Path, h: Any = None) -> None:
    """Copy the first ``size`` bytes of ``fi`` to ``fo`` (never more: a file that grows is not followed),
    updating the hash ``h`` when given; ``RepairFailed`` when ``fi`` is shorter."""
    offset = 0 if h is not None else _copy_in_kernel(fi, fo, size)
    while offset < size:
        chunk = os.pread(fi, min(_CHUNK, size - offset), offset)
        if not chunk:
            raise RepairFailed(f"{what}: the file shrank while ckptfix was copying it")
        if h is not None:
            h.update(chunk)
        view = memoryview(chunk)
        while view:
            view = view[os.write(fo, view):]
        offset += len(chunk)


def _copy_in_kernel(fi: int, fo: int, size: int) -> int:
    """Copy from the start of ``fi`` to ``fo``'s position with ``copy_file_range`` (in the kernel, a reflink where
    the filesystem has them, as ``shutil.copyfile`` does); how many bytes it copied (0 where it is not supported:
    the caller copies the rest)."""
    offset = 0
    try:
        while offset < size:
            n = os.copy_file_range(fi, fo, min(size - offset, 1 << 30), offset)
            if n == 0:
                break
            offset += n
    except (AttributeError, OSError):  # not Linux, or not between these filesystems: the caller copies the rest
        pass
    return offset


class Folder:
    """A folder opened once, by descriptor (see the module docstring). ``path`` names it in messages."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = Path(path)

    @classmethod
    def open(cls, path: Path) -> Folder:
        """The folder at ``path``: the user's own path (a symlink to the folder is followed, as everywhere)."""
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise UnreadableFile(path, f"cannot open the folder: {exc.strerror or exc}") from None
        return cls(fd, Path(path))

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def sub(self, name: str) -> Folder:
        """The folder ``name`` inside this one; ``UnreadableFile`` when it is a symlink, not a folder or missing."""
        return Folder(open_dir_at(self.fd, name, self.path / name), self.path / name)

    def names(self) -> list[str]:
        return sorted(os.listdir(self.fd))

    def lstat(self, name: str) -> os.stat_result | None:
        """``name``'s own status (a symlink's, not its target's); None when nothing is there."""
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def identity(self, name: str) -> FileId | None:
        st = self.lstat(name)
        return None if st is None else (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def open_file(self, name: str) -> tuple[int, int]:
        """``(descriptor, size)`` of the regular file ``name`` (``open_regular_at``: no symlink, no FIFO)."""
        return open_regular_at(self.fd, name, self.path / name)

    def read(self, name: str, limit: int, what: str) -> bytes:
        """The whole regular file ``name``; ``ResourceLimit`` when it is larger than ``limit`` bytes."""
        fd, size = self.open_file(name)
        try:
            if size > limit:
                raise ResourceLimit(self.path / name, f"{what} of {size:,} bytes, more than the {limit:,} ckptfix reads")
            data = os.pread(fd, limit + 1, 0)
        finally:
            os.close(fd)
        if len(data) > limit:
            raise ResourceLimit(self.path / name, f"{what} larger than the {limit:,} bytes ckptfix reads")
        return data

    def sha256(self, name: str) -> tuple[str, FileId]:
        """SHA-256 of the regular file ``name`` and the identity of the file hashed (from the open descriptor)."""
        fd, size = self.open_file(name)
        try:
            h = hashlib.sha256()
            offset = 0
            while offset < size:
                chunk = os.pread(fd, min(_CHUNK, size - offset), offset)
                if not chunk:
                    break
                h.update(chunk)
                offset += len(chunk)
            st = os.fstat(fd)
        finally:
            os.close(fd)
        return h.hexdigest(), (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def create(self, name: str, mode: int = 0o600) -> int:
        """A new file ``name`` open for reading and writing (``O_EXCL``: never an existing file, never through a link)."""
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(name, flags, 0o600, dir_fd=self.fd)
        os.fchmod(fd, mode)
        return fd

    def write_atomic(self, name: str, data: bytes, expect: object = ANY,
                     before: Callable[[], None] | None = None) -> FileId | None:
        """``name`` holds ``data``: a temp file with the permission bits (and, where allowed, the owner) of the file
        it replaces (0644 for a new one), fsync, ``before()``, then ``os.replace`` unless another process replaced
        ``name`` since it had identity ``expect`` (a link at ``name`` is replaced, not followed). Returns the new
        file's identity; the temp file is removed on any failure."""
        tmp = temp_name(name)
        now = self.lstat(name)
        old = now if now is not None and stat.S_ISREG(now.st_mode) else None
        fd = self.create(tmp, stat.S_IMODE(old.st_mode) if old is not None else 0o644)
        try:
            try:
                if old is not None:
                    _chown(fd, old)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            if before is not None:
                before()
            return self.replace(tmp, name, expect)
        finally:
            self.discard(tmp)

    def write_new(self, name: str, data: bytes) -> None:
        """A new file ``name`` (never an existing one, never through a link) holding ``data``, fsynced with the folder."""
        fd = self.create(name, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        self.fsync()

    def mkdir(self, name: str, exist_ok: bool = False) -> None:
        """The folder ``name`` inside this one, created (fsynced); with ``exist_ok`` one already there is kept, but a
        symlink or anything else there is refused (``RepairFailed``). ``FileExistsError`` otherwise."""
        st = self.lstat(name)
        if st is not None and exist_ok:
            if not stat.S_ISDIR(st.st_mode):
                raise RepairFailed(f"{self.path / name} is a symlink or not a folder: ckptfix will not write through it")
            return
        os.mkdir(name, 0o755, dir_fd=self.fd)
        self.fsync()

    def replace(self, src: str, dst: str, expect: object = ANY,
                when: str = "while ckptfix was writing its new version") -> FileId | None:
        """``os.replace`` of two names in this folder, then fsync it; ``expect``: its identity when the repair checked it (``check_identity``).
        Returns the new file's identity."""
        check_identity(self.path / dst, expect, when, self.identity(dst))
        new = self.identity(src)
        os.replace(src, dst, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        self.fsync()
        return new

    def unlink(self, name: str, expect: object = ANY) -> None:
        """Remove ``name`` (a link itself, never its target), if it is still ``expect``; fsync the folder."""
        check_identity(self.path / name, expect, "while ckptfix was removing it", self.identity(name))
        os.unlink(name, dir_fd=self.fd)
        self.fsync()

    def rmdir(self, name: str) -> None:
        """Remove the empty folder ``name`` (never a link's target); fsync this folder."""
        os.rmdir(name, dir_fd=self.fd)
        self.fsync()

    def discard(self, name: str) -> None:
        """Remove a temp file of ckptfix's if it is there."""
        try:
            os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            pass

    def fsync(self) -> None:
        os.fsync(self.fd)


class LocalDisk(LocalStore, WritableStore):
    """The local disk as a ``WritableStore``: every write through ``Folder`` (by descriptor, never through a
    symlink), each new version written beside the file, fsynced and renamed over it; a lock file keeps one
    repair at a time (``repair/lock.py``); a large file is patched in a copy renamed over it."""

    locks = True
    patches_in_place = True

    def regular(self, path: Path) -> bool | None:
        return is_regular(path)

    def identity(self, path: Path) -> object:
        return identity(path)

    def read_now(self, path: Path, limit: int, what: str) -> bytes:
        with Folder.open(path.parent) as folder:
            return folder.read(path.name, limit, what)

    def sha256(self, path: Path, limit: int) -> str | None:
        if is_regular(path) is None:
            return None
        with Folder.open(path.parent) as folder:
            fd, size = folder.open_file(path.name)
            os.close(fd)
            if size > limit:
                raise ResourceLimit(path, f"{size:,} bytes, more than the {limit:,} ckptfix hashes here")
            return folder.sha256(path.name)[0]

    def replace(self, path: Path, data: bytes, expect: object = ANY, before: Callable[[], None] | None = None) -> object:
        with Folder.open(path.parent) as folder:
            return folder.write_atomic(path.name, data, expect, before)

    def copy(self, src: Path, dst: Path) -> None:
        copy_durable(src, dst)

    def put_back(self, copy: Path, path: Path, digest: str, expect: object = ANY, limit: int | None = None) -> None:
        if copy.name != path.name:
            raise ValueError(f"{copy}: a backup copy is named as the file it keeps ({path.name})")
        with Folder.open(copy.parent) as backup, Folder.open(path.parent) as folder:
            put_back(backup, folder, path.name, digest, expect, limit)

    def remove(self, path: Path, expect: object = ANY) -> None:
        with Folder.open(path.parent) as folder:
            if folder.lstat(path.name) is not None:
                folder.unlink(path.name, expect)

    def create(self, path: Path, data: bytes) -> None:
        with Folder.open(path.parent) as folder:
            folder.write_new(path.name, data)

    def make_folder(self, path: Path, exist_ok: bool = False) -> None:
        with Folder.open(path.parent) as folder:
            folder.mkdir(path.name, exist_ok)

    def patch(self, path: Path, writes: builtins.list[tuple[int, bytes, bytes]], size: int, want_sha: str,
              before: Callable[[], None], on_replace: Callable[[], None], temps: builtins.list[Path],
              expect: object = ANY) -> object:
        with Folder.open(path.parent) as folder:
            return patch_copy(folder, path.name, writes, size, want_sha, before, on_replace, temps, expect)

    def restore_hint(self, copy: Path | None, path: Path) -> str:
        """Run from the checkpoint folder: ``cp .ckptfix/backup-<UTC>/scheduler.bin scheduler.bin``."""
        if copy is None:
            return f"rm {path.name}  # did not exist before"
        return f"cp {copy.parent.parent.name}/{copy.parent.name}/{copy.name} {path.name}"


DISK = LocalDisk()


def writable(store: Store) -> WritableStore:
    """The store ``repair`` writes ``store``'s files through: object storage writes itself; the local disk's
    reads (``LOCAL``) are written by ``DISK``. ``TypeError`` for a store nothing writes."""
    if isinstance(store, WritableStore):
        return store
    if isinstance(store, LocalStore):
        return DISK
    raise TypeError(f"{type(store).__name__}: a store ckptfix cannot write into")
