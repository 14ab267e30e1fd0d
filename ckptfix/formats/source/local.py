"""The local disk: files read by offset with ``os.pread``, opened through one guarded open.

Unbuffered on purpose: a buffered reader turns each 30-byte zip local-header read into a 4-8 KB read,
which for a few hundred step counters in a multi-GB optimizer file is ten times the bytes needed
(measured: 1.07 MB of an 8 GB file instead of 119 KB, ``bench/``).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from ckptfix.errors import UnreadableFile
from ckptfix.formats.source.interface import ByteSource, Entry, Store

__all__ = ["LOCAL", "TMP_MARKER", "LocalFile", "LocalStore", "check_inside", "open_dir_at", "open_regular", "open_regular_at"]

#: In the name of ckptfix's temporary files, beside the file they replace (``<stem>.ckptfix-tmp-<8 hex>``):
#: what a killed repair leaves is recognised by it (``model/leftovers.py``).
TMP_MARKER = ".ckptfix-tmp-"

# O_NONBLOCK: opening a FIFO (or a device) named like a checkpoint file must not hang
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
# a name inside a folder opened by descriptor: a symlink there is refused by the open itself (ELOOP)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def open_regular(path: Path) -> tuple[int, int]:
    """``(descriptor, size)`` of a regular file, opened without blocking; ``UnreadableFile`` otherwise.

    The one place ckptfix opens a file to read it: a FIFO, a device, a socket or a directory (also
    behind a symlink) is refused after an ``open`` that cannot block, before any ``read``.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        problem = "dangling symlink: its target does not exist; not read" if os.path.islink(path) else "file not found"
        raise UnreadableFile(path, problem) from None
    except OSError as exc:
        raise _open_error(path, exc) from None
    return _regular(path, fd)


def _open_error(path: Path, exc: OSError) -> UnreadableFile:
    if isinstance(exc, IsADirectoryError):
        return UnreadableFile(path, "not a regular file (a directory): not read")
    if isinstance(exc, PermissionError):
        return UnreadableFile(path, "permission denied")
    if isinstance(exc, FileNotFoundError):
        return UnreadableFile(path, "file not found")
    if exc.errno == errno.ELOOP:
        return UnreadableFile(path, "a symlink: not followed")
    if exc.errno == errno.ENOTDIR:
        return UnreadableFile(path, "not a folder")
    return UnreadableFile(path, f"cannot open: {exc.strerror or exc}")


def _at(dir_fd: int, name: str, path: Path, flags: int) -> int:
    """``os.open(name, flags, dir_fd=dir_fd)`` for one name inside the folder (no separator, not ``..``)."""
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise UnreadableFile(path, "not a name inside the folder: not opened")
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link_at(dir_fd, name):  # O_DIRECTORY says ENOTDIR
            raise UnreadableFile(path, "a symlink: not followed") from None
        raise _open_error(path, exc) from None


def _is_link_at(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def open_regular_at(dir_fd: int, name: str, path: Path) -> tuple[int, int]:
    """``(descriptor, size)`` of the regular file ``name`` inside the folder open as ``dir_fd`` (``path`` names
    it in messages): as ``open_regular``, and a symlink is never followed (``O_NOFOLLOW``: the open fails).
    What is checked is the open file (``fstat``), so nothing swapped in between is read."""
    return _regular(path, _at(dir_fd, name, path, _OPEN_FLAGS | _NOFOLLOW))


def open_dir_at(dir_fd: int, name: str, path: Path) -> int:
    """A descriptor of the folder ``name`` inside the folder open as ``dir_fd``; ``UnreadableFile`` when it is a
    symlink (never followed), not a folder, or missing. Opening a FIFO with ``O_DIRECTORY`` fails at once."""
    return _at(dir_fd, name, path, _DIR_FLAGS)


def _regular(path: Path, fd: int) -> tuple[int, int]:
    """``(fd, size)`` when the open ``fd`` is a regular file; else it is closed and ``UnreadableFile`` raised."""
    try:
        st = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        raise UnreadableFile(path, f"cannot open: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        if stat.S_ISDIR(st.st_mode):
            raise UnreadableFile(path, "not a regular file (a directory): not read")
        raise UnreadableFile(path, "not a regular file (a pipe, socket or device): not read")
    return fd, st.st_size


def check_inside(root: Path, path: Path) -> None:
    """Symlinks are followed only when they stay inside ``root`` (the checkpoint folder)."""
    if os.path.islink(path):
        try:
            target = path.resolve()
            inside = target.is_relative_to(Path(root).resolve())
        except (OSError, RuntimeError) as exc:  # loops, name too long
            raise UnreadableFile(path, f"symlink cannot be resolved: {getattr(exc, 'strerror', None) or exc}") from None
        if not inside:
            raise UnreadableFile(path, f"symlink leads outside the checkpoint folder (to {target}): not read")


class LocalFile(ByteSource):
    """A local file read by offset (``os.pread``: no seek, no read-ahead)."""

    _fd: int | None = None

    def __init__(self, path: Path):
        self.path = path
        self._fd, self.size = open_regular(path)
        self.bytes_read = 0
        self.requests = 0

    def read_at(self, offset: int, n: int) -> bytes:
        if offset < 0 or n < 0 or offset + n > self.size:
            raise self.truncated(offset, n)
        if self._fd is None:
            raise ValueError(f"{self.path}: read after close")
        self.requests += 1
        data = os.pread(self._fd, n, offset)
        if len(data) < n:  # a short read (signals, huge requests): continue until EOF
            parts = [data]
            got = len(data)
            while got < n:
                chunk = os.pread(self._fd, n - got, offset + got)
                if not chunk:
                    break
                parts.append(chunk)
                got += len(chunk)
            data = b"".join(parts)
        self.bytes_read += len(data)
        if len(data) != n:
            raise UnreadableFile(self.path, "truncated: file shrank while being read")
        return data

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:  # as a file object does: a source dropped on an error path frees its fd
        self.close()


class LocalStore(Store):
    """Folders and files on the local disk (paths are ``pathlib.Path``)."""

    def path(self, location: str | os.PathLike[str]) -> Path:
        return Path(location)

    def list(self, folder: Path) -> tuple[Entry, ...]:
        out = []
        with os.scandir(folder) as it:
            for e in it:
                try:
                    is_dir = e.is_dir(follow_symlinks=False)
                except OSError:
                    is_dir = False
                out.append(Entry(e.name, is_dir))
        out.sort(key=lambda e: e.name)
        return tuple(out)

    def open(self, path: Path, *, root: Path | None = None) -> LocalFile:
        path = Path(path)
        if root is not None:
            check_inside(root, path)
        return LocalFile(path)

    def link_target(self, path: Path) -> Path | None:
        return Path(os.path.realpath(path)) if os.path.islink(path) else None

    def describe(self, path: Path) -> str:
        try:
            is_link = os.path.islink(path)
            os.stat(path)
        except FileNotFoundError:
            if not is_link:
                return "nothing (it is gone)"
            try:
                return f"a dangling symbolic link (to {os.readlink(path)}, which does not exist)"
            except OSError:
                return "a dangling symbolic link"
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return "a symbolic link loop (it leads back to itself)"
            return f"an entry that cannot be inspected ({exc.strerror or exc})"
        what = super().describe(path)
        return f"a symbolic link to {what} ({os.path.realpath(path)})" if is_link else what

    def kind(self, path: Path) -> str | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return "other" if os.path.islink(path) else None
        except (OSError, ValueError):
            return "other"
        if stat.S_ISDIR(st.st_mode):
            return "dir"
        return "file" if stat.S_ISREG(st.st_mode) else "other"


LOCAL = LocalStore()
