"""A store ``repair`` writes into: ``WritableStore``, the write side of ``interface.py``'s ``Store``.

Implemented by the local disk (``durable.DISK``: every call through ``Folder``, by descriptor, never through a
symlink) and object storage (``remote/store.py``: ``RemoteStore`` itself). Every write, backup and undo of a
repair action goes through these calls, and what a store cannot do (``locks``, ``patches_in_place``) is known
when the plan is made. Imported only by what writes: the gate never loads it.
"""

from __future__ import annotations

import builtins
from abc import abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from ckptfix.formats.source.interface import Store

__all__ = ["ANY", "WritableStore"]

#: ``expect`` for "whatever is there", and the identity of a file in a store that cannot tell one version of
#: a file from another (``WritableStore.identity``).
ANY: Any = object()


class WritableStore(Store):
    """A store ``repair`` writes into: every write, backup and undo of a repair action goes through these calls.

    A new version of a file replaces the old one whole (a reader sees the old file or the new one, never a
    part): on the local disk a temporary file beside it, fsynced and renamed over it; on object storage one
    upload. ``expect``: the file's ``identity`` when the repair checked it; another writer's version is
    never replaced (``RepairFailed``) where the store can tell versions apart. What a store cannot do is
    said by its flags, so that a plan needing it is refused before anything is written."""

    #: One repair at a time: a lock in the checkpoint's ``.ckptfix/`` (the local disk). Object storage has
    #: none, and no change of several files at once (``caveat`` says so in every plan).
    locks: bool = False
    #: Bytes replaced inside a large file without sending it whole (the local disk: a patched copy renamed
    #: over it). Object storage would upload the whole multi-GB object again.
    patches_in_place: bool = False
    #: What writing here cannot give, said in every plan that writes (None: nothing to say).
    caveat: str | None = None

    @abstractmethod
    def regular(self, path: Any) -> bool | None:
        """Whether a regular file is at ``path`` now (a symlink, FIFO or folder is not: never followed); None
        when nothing is there."""

    def identity(self, path: Any) -> object:
        """What tells this version of the file from another writer's (the local disk: device, inode, size,
        mtime; None when absent); ``ANY`` where the store cannot tell."""
        return ANY

    @abstractmethod
    def read_now(self, path: Any, limit: int, what: str) -> bytes:
        """The whole file as the storage holds it now (never from a cache); ``ResourceLimit`` past ``limit``."""

    @abstractmethod
    def sha256(self, path: Any, limit: int) -> str | None:
        """The SHA-256 of the file as it is now; None when nothing is there; ``ResourceLimit`` past ``limit``."""

    @abstractmethod
    def replace(self, path: Any, data: bytes, expect: object = ANY, before: Callable[[], None] | None = None) -> object:
        """``path`` holds ``data`` (created if missing), replaced whole; ``before()`` right before the switch.
        Returns the new file's ``identity``."""

    @abstractmethod
    def copy(self, src: Any, dst: Any) -> None:
        """A new file ``dst``, byte-identical to ``src`` (a backup: on the local disk with ``src``'s permission
        bits; on object storage a server-side copy)."""

    @abstractmethod
    def put_back(self, copy: Any, path: Any, digest: str, expect: object = ANY, limit: int | None = None) -> None:
        """The backup ``copy`` back at ``path`` (unless another writer replaced it since ``expect``), checked
        against the original's SHA-256 ``digest``: ``RepairFailed`` when the result is not the original."""

    @abstractmethod
    def remove(self, path: Any, expect: object = ANY) -> None:
        """Remove the file at ``path`` (a file the repair created) if it is still ``expect``; nothing there: done."""

    @abstractmethod
    def create(self, path: Any, data: bytes) -> None:
        """A new file ``path`` holding ``data`` (a manifest, a patch record), durable once this returns."""

    @abstractmethod
    def make_folder(self, path: Any, exist_ok: bool = False) -> None:
        """The folder ``path`` (``FileExistsError`` when it exists, unless ``exist_ok``; a store without
        folders has nothing to create)."""

    def patch(self, path: Any, writes: builtins.list[tuple[int, bytes, bytes]], size: int, want_sha: str,
              before: Callable[[], None], on_replace: Callable[[], None], temps: builtins.list[Any],
              expect: object = ANY) -> object:
        """Replace ``old`` by ``new`` at each offset of the file (``patches_in_place`` stores only); the new
        file's ``identity``."""
        raise NotImplementedError(f"{type(self).__name__} does not patch files in place")

    def forget(self, path: Any) -> None:
        """Drop what is cached of ``path``: the next read asks the storage (a store without a cache: nothing)."""

    def undoing(self) -> AbstractContextManager[None]:
        """Calls inside wait without the command's deadline (``--timeout``): an undo is never cut short."""
        return nullcontext()

    @abstractmethod
    def restore_hint(self, copy: Any | None, path: Any) -> str:
        """How to put the file back by hand from its backup ``copy`` (None: remove it, it did not exist), as a
        backup's manifest says it."""
