"""Where the bytes come from: the interfaces every reader in ``ckptfix.formats`` reads through.

``ByteSource``: one file's bytes by offset, each read counted (``read_at``), or a batch of ranges at
once (``read_ranges``: a remote source fetches a batch concurrently, in one round trip).
``Store``: a tree of folders and files (local disk today; object storage behind the same calls):
listing, and the one guarded way to open a file as a ``ByteSource``.
``WritableStore`` (beside this module, ``writable.py``): a store ``repair`` writes into.
``ReadPlan``: which bytes a checkpoint's readers will read, told to a store that fetches ahead (object
storage); it is written above the byte source (``formats/prefetch.py`` knows torch's zip files).

Errors: a read outside the file is ``UnreadableFile`` ("truncated: ..."); a file that cannot be opened
safely (missing, a directory, a FIFO or device, permission denied, a symlink leaving its checkpoint
folder) is ``UnreadableFile`` naming the path; a folder that cannot be listed raises ``OSError``.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ckptfix.errors import ResourceLimit, UnreadableFile
from ckptfix.records import Record

__all__ = ["ByteSource", "Entry", "ReadPlan", "Store"]

T = TypeVar("T")


class ByteSource(ABC):
    """Random access to the bytes of one file; counts the bytes and the requests it serves."""

    path: Any  # what messages name: a ``pathlib.Path`` locally
    size: int
    bytes_read: int = 0
    requests: int = 0
    #: Whether ``prefetch`` hints are worth computing (True for sources that pay per round trip).
    wants_prefetch: bool = False

    @abstractmethod
    def read_at(self, offset: int, n: int) -> bytes:
        """Exactly ``n`` bytes at ``offset``; ``UnreadableFile`` when the file is shorter."""

    def read_ranges(self, ranges: Sequence[tuple[int, int]]) -> builtins.list[bytes]:
        """``(offset, length)`` ranges read as one batch (in order). Sources that pay per request
        (object storage) fetch the batch concurrently; the local source simply reads each."""
        return [self.read_at(offset, n) for offset, n in ranges]

    def prefetch(self, ranges: Sequence[tuple[int, int]]) -> None:
        """A hint: ``(start, end)`` ranges the reader is about to read. A source that pays per round
        trip (object storage) fetches them as one concurrent batch; the local source ignores it."""

    def read_all(self, limit: int, what: str) -> bytes:
        """The whole file, refused past ``limit`` bytes (``ResourceLimit``) before anything is read."""
        if self.size > limit:
            raise ResourceLimit(self.path, f"{what} is {self.size:,} bytes; the limit is {limit:,}")
        return self.read_at(0, self.size)

    def truncated(self, offset: int, n: int) -> UnreadableFile:
        """The error for a read past the end (one wording for every source)."""
        return UnreadableFile(self.path, f"truncated: needs bytes {offset}..{offset + n} of a {self.size}-byte file")

    def close(self) -> None:
        """Free what the source holds (a descriptor, a connection); reads after it fail."""

    def __enter__(self) -> ByteSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Entry(Record):
    """One name in a folder listing."""

    name: str
    is_dir: bool  # a folder (a symlink to one counts only where the store follows links)
    size: int | None = None  # bytes, for files; None when the listing does not say


class ReadPlan(ABC):
    """Which bytes of a checkpoint's files their readers will read, guessed before they read: a store that
    pays per round trip fetches them ahead, for every checkpoint at once (``Store.load_together``). A store
    only calls it; what a torch file's reader reads is known above the byte source (``formats/prefetch.py``)."""

    @abstractmethod
    def first_reads(self, name: str, size: int, tuning: Any) -> builtins.list[tuple[int, int]]:
        """``(start, end)`` ranges of the file ``name`` of ``size`` bytes, from the listing alone (``tuning``:
        the store's guesses of head and tail sizes)."""

    @abstractmethod
    def next_reads(self, name: str, size: int, fetched: Any, path: Any) -> builtins.list[tuple[int, int]]:
        """The ranges still missing once ``fetched`` (the bytes of the file fetched so far) tells more; nothing
        past the readers' limits (they refuse those files without reading them)."""


class Store(ABC):
    """A tree of folders and files. Paths are ``pathlib``-like: ``/``, ``.name``, ``.parent``, ``str()``."""

    #: Object storage (``remote/``): round trips cost more than bytes; writes go through ``repair``'s
    #: object-storage path (no rename, no lock).
    remote: bool = False

    @abstractmethod
    def path(self, location: Any) -> Any:
        """The store's path object for ``location`` (a ``str`` or a path it already made)."""

    @abstractmethod
    def list(self, folder: Any) -> tuple[Entry, ...]:
        """The entries of ``folder``, sorted by name; ``OSError`` when it cannot be listed."""

    @abstractmethod
    def open(self, path: Any, *, root: Any = None) -> ByteSource:
        """Open a regular file for reading, never blocking. ``root``: the checkpoint folder a symlink
        must stay inside. ``UnreadableFile`` naming the path when it cannot be opened safely."""

    @abstractmethod
    def kind(self, path: Any) -> str | None:
        """``"dir"``, ``"file"`` (a regular file), ``"other"`` (FIFO, device, socket, dangling link) or
        None when nothing is there. Never raises for a path that cannot be inspected: ``"other"``."""

    def timed_out(self) -> str | None:
        """What the command's deadline (``--timeout``, object storage) stopped waiting for; None when it did
        not pass or the store has none (the local disk)."""
        return None

    def link_target(self, path: Any) -> Any:
        """Where a symbolic link at ``path`` leads (for messages), None when it is not one."""
        return None

    def describe(self, path: Any) -> str:
        """What is at ``path``, for a message about an entry that is not a folder ("a regular file", "a
        dangling symbolic link to /x", ...)."""
        kind = self.kind(path)
        return {"file": "a regular file", "dir": "a folder", None: "nothing (it is gone)"}.get(kind, "not a regular file or folder")

    def read(self, path: Any, limit: int, what: str, *, root: Any = None) -> bytes:
        """A whole small file (JSON, a tag file), through the guarded ``open``; refused past ``limit``."""
        with self.open(path, root=root) as src:
            return src.read_all(limit, what)

    def load_together(self, folders: Sequence[Any], load: Callable[[Any], T],
                      plan: ReadPlan | None = None) -> builtins.list[T]:
        """``load(folder)`` for each checkpoint folder, in order. A store that pays per round trip fetches
        ahead for all of them at once what ``plan`` says their readers will read, and lets their reads share
        round trips; the local disk runs them one after the other."""
        return [load(f) for f in folders]

    def release(self, folder: Any) -> None:
        """Forget what was fetched below ``folder`` (a run checked and done with: memory stays flat over many
        runs). The local disk keeps nothing."""

    def walk(self, folder: Any, skip: frozenset[str] = frozenset()) -> builtins.list[tuple[Any, Entry]]:
        """Every file below ``folder`` (not following links to folders, not entering ``skip``), as
        ``(path, entry)`` sorted by path. Folders that cannot be listed are left out."""
        out: builtins.list[tuple[Any, Entry]] = []
        pending = [folder]
        while pending:
            d = pending.pop()
            try:
                entries = self.list(d)
            except OSError:
                continue
            for e in entries:
                if e.is_dir:
                    if e.name not in skip:
                        pending.append(d / e.name)
                else:
                    out.append((d / e.name, e))
        out.sort(key=lambda pe: str(pe[0]))
        return out
