"""Object storage (anything fsspec opens) behind ckptfix's ``Store`` / ``ByteSource`` interfaces.

Reading a checkpoint locally is ~50 small reads in order (zip end record, directory, ``data.pkl``, then
one read per step counter); over the network each would be a round trip. Here, instead:

* PATH is listed once, recursively, with sizes (``find``); ``list``/``kind``/``walk`` answer from it;
* ``load_together`` fetches ahead for all the checkpoints to read, in two batches planned by the
  caller's ``ReadPlan`` (``ckptfix.formats.prefetch``, above the byte source: round 1: heads, tails and small files, from the listing; round 2: only
  where a guess fell short), then runs the readers, one thread per checkpoint, so that what is still
  missing (the step storages: ``TorchFile.read_scalars`` announces them together) goes out as one
  batch for all checkpoints (``batch.Batcher``): round 3;
* a batch is merged and split by the cost model (``ranges.plan_requests``) and fetched concurrently
  (``cat_ranges`` on async backends, with ``Tuning.max_connections`` at a time; a thread pool for the
  others, such as the Hugging Face Hub's);
* the cache (``ranges.Extents``) answers only from bytes fetched; a read of anything else is fetched;
* every read waits for the backend at most until the command's deadline (``deadline.Deadline``,
  ``--timeout``): past it, each file not read is unreadable, and ``timed_out`` says what was waited for.

``stats`` counts requests, bytes and sequential rounds (and rounds per checkpoint folder).
"""

from __future__ import annotations

import builtins
import hashlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from ckptfix.errors import RepairFailed, UnreadableFile
from ckptfix.formats.source.interface import ByteSource, Entry, ReadPlan
from ckptfix.formats.source.remote.batch import Batcher
from ckptfix.formats.source.remote.deadline import Deadline, DeadlineExpired
from ckptfix.formats.source.remote.path import RemotePath
from ckptfix.formats.source.remote.ranges import Extents, Tuning, cut, plan_requests
from ckptfix.formats.source.writable import ANY, WritableStore

__all__ = ["RemoteFile", "RemoteStore", "Stats"]

T = TypeVar("T")
_LOCAL_PROTOCOLS = {"memory", "file", "local"}  # no round trips: plain sequential calls
_PLANNED = object()  # the planned third round, run as one of the readers
_MAX_PUT_BACK = 1 << 30  # a backup read back whole to check it (repair's copies are scheduler files: KBs)


class Stats:
    """What the store cost: requests, bytes received, sequential rounds (each batch is one)."""

    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0
        self.rounds = 0
        self.listings = 0  # listing calls (each may be several pages of 1,000 objects on S3)
        self.writes = 0  # copies, uploads, deletions (repair)
        self.by_folder: dict[str, int] = {}  # fetch rounds that touched each checkpoint folder

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "bytes": self.bytes, "rounds": self.rounds, "listings": self.listings,
                "writes": self.writes, "rounds_per_checkpoint": max(self.by_folder.values(), default=0)}


def _error(path: Any, exc: BaseException, secrets: Sequence[str] = ()) -> UnreadableFile:
    """A backend error as ckptfix reports it (any storage-option value in its text replaced)."""
    if isinstance(exc, UnreadableFile):
        return exc
    if isinstance(exc, DeadlineExpired):
        return UnreadableFile(path, f"not read: {exc}")
    if isinstance(exc, FileNotFoundError):
        return UnreadableFile(path, "file not found (removed since it was listed?)")
    if isinstance(exc, PermissionError):
        return UnreadableFile(path, "permission denied")
    text = f"cannot read: {type(exc).__name__}: {exc}"
    for s in secrets:
        text = text.replace(s, "***")
    return UnreadableFile(path, text[:300])


class RemoteFile(ByteSource):
    """One object, read through its store's cache: a read of bytes not fetched yet is fetched."""

    wants_prefetch = True

    def __init__(self, store: RemoteStore, path: RemotePath, size: int) -> None:
        self.store, self.path, self.size = store, path, size
        self.bytes_read = 0
        self.requests = 0
        self._extents = store.extents(path.key)

    def read_at(self, offset: int, n: int) -> bytes:
        if offset < 0 or n < 0 or offset + n > self.size:
            raise self.truncated(offset, n)
        data = self._extents.get(offset, n)
        if data is None:
            self.store.fetch(self.path, [(offset, offset + n)], strict=True)
            data = self._extents.get(offset, n)
            if data is None:
                raise UnreadableFile(self.path, f"truncated: bytes {offset}..{offset + n} could not be fetched "
                                                "(the object changed since it was listed?)")
        self.requests += 1
        self.bytes_read += n
        return data

    def prefetch(self, ranges: Sequence[tuple[int, int]]) -> None:
        missing = [m for start, end in ranges for m in self._extents.missing(max(0, start), min(end, self.size))]
        if missing:
            self.store.fetch(self.path, missing)


class RemoteStore(WritableStore):
    """Folders and files of one fsspec filesystem; paths are ``RemotePath``. Written by ``repair`` as a
    ``WritableStore``: each object replaced whole by one upload, backups by server-side copies; no lock and
    no in-place patch (``caveat``)."""

    remote = True
    caveat = ("object storage: each scheduler file is replaced whole by one upload after a server-side backup copy "
              "into .ckptfix/; there is no lock (a trainer or another repair writing this checkpoint at the same "
              "time is not detected) and no atomic change across files")

    def __init__(self, fs: Any, scheme: str, tuning: Tuning = Tuning(), deadline: Deadline | None = None) -> None:
        self.fs, self.scheme, self.tuning = fs, scheme, tuning
        self.deadline = deadline or Deadline(None)
        protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
        self._local = bool(_LOCAL_PROTOCOLS & set(protocols))
        self._async = bool(getattr(fs, "async_impl", False)) and not self._local
        self.stats = Stats()
        self.secrets: builtins.list[str] = []  # storage-option values: never in a message
        self._lock = threading.RLock()
        self._files: dict[str, int] = {}  # key -> size
        self._dirs: set[str] = set()
        #: folder key -> its entries, built from ``_files`` and ``_dirs`` when first asked after a change: a
        #: listing of a tree of many runs answers each folder without going over every object (``list``)
        self._index: dict[str, dict[str, Entry]] | None = None
        self._listed: set[str] = set()  # keys listed recursively: nothing exists below them unlisted
        self._stale: set[str] = set()  # keys written since: asked of the server again (``stat``)
        self._cache: dict[str, Extents] = {}
        self._folders: builtins.list[str] = []  # checkpoint folders being read (for rounds per folder)
        self._batcher = Batcher(self._dispatch)

    # -- paths and listing -----------------------------------------------------------------------
    def path(self, location: Any) -> RemotePath:
        if isinstance(location, RemotePath):
            return location
        text = str(location)
        if "://" in text:
            return RemotePath(self.scheme, self.fs._strip_protocol(text))
        return RemotePath(self.scheme, text)

    def timed_out(self) -> str | None:
        """What the command's deadline stopped waiting for, as a sentence (None: it did not pass)."""
        return str(self.deadline.expired) if self.deadline.expired is not None else None

    def _read(self, what: str, fn: Callable[[], T]) -> T:
        """A backend call that reads, waited for at most until the deadline (in-process backends: plainly)."""
        return fn() if self._local else self.deadline.call(what, fn)

    def _covered(self, key: str) -> bool:
        return any(key == k or key.startswith(k.rstrip("/") + "/") for k in self._listed)

    def list_tree(self, path: RemotePath) -> None:
        """List everything below ``path`` once (one ``find``: on S3, one request per 1,000 objects)."""
        key = path.key
        with self._lock:
            if self._covered(key):
                return
            self.stats.listings += 1
            self.stats.requests += 1
            self.stats.rounds += 1
        try:
            found = self._read(f"the listing of {path}", lambda: self.fs.find(key, detail=True, withdirs=True))
        except FileNotFoundError:
            found = {}
        with self._lock:
            prefix = key.rstrip("/") + "/"
            for name, info in found.items():
                name = name.rstrip("/")
                if name != key and not name.startswith(prefix):
                    continue  # find on a key also matches keys that merely start with it
                if info.get("type") == "directory":
                    self._dirs.add(name)
                    continue
                self._files[name] = int(info.get("size") or 0)
                d = name
                while "/" in d and d != key:  # every folder above the file, up to PATH
                    d = d.rsplit("/", 1)[0]
                    if d != key and not d.startswith(prefix):
                        break
                    self._dirs.add(d)
            if any(n.startswith(prefix) for n in self._files) or key in self._dirs:
                self._dirs.add(key)
            self._listed.add(key)
            self._index = None

    def _ensure(self, key: str) -> None:
        if key in self._stale:
            self.stat(RemotePath(self.scheme, key))
        elif not self._covered(key):
            self.list_tree(RemotePath(self.scheme, key))

    def list(self, folder: RemotePath) -> tuple[Entry, ...]:
        key = folder.key
        self._ensure(key)
        if key not in self._dirs:
            if key in self._files:
                raise NotADirectoryError(20, "not a folder", str(folder))
            raise FileNotFoundError(2, "no such folder", str(folder))
        out = self._entries().get(key.rstrip("/"), {})
        return tuple(out[n] for n in sorted(out))

    def _entries(self) -> builtins.dict[str, builtins.dict[str, Entry]]:
        """Every listed folder's entries (a folder wins over a file of the same name), built in one pass."""
        with self._lock:
            if self._index is None:
                index: builtins.dict[str, builtins.dict[str, Entry]] = {}
                for name, size in self._files.items():
                    parent, _, leaf = name.rpartition("/")
                    index.setdefault(parent, {})[leaf] = Entry(leaf, False, size)
                for name in self._dirs:
                    parent, _, leaf = name.rpartition("/")
                    if parent != name:
                        index.setdefault(parent, {})[leaf] = Entry(leaf, True)
                self._index = index
            return self._index

    def _files_below(self, key: str) -> builtins.list[tuple[str, int]]:
        """(key, size) of every listed object below the folder ``key``."""
        index, todo = self._entries(), [key.rstrip("/")]
        out: builtins.list[tuple[str, int]] = []
        while todo:
            folder = todo.pop()
            for e in index.get(folder, {}).values():
                if e.is_dir:
                    todo.append(f"{folder}/{e.name}")
                elif e.size is not None:
                    out.append((f"{folder}/{e.name}", e.size))
        return sorted(out)

    def kind(self, path: RemotePath) -> str | None:
        key = path.key
        try:
            self._ensure(key)
        except Exception:  # noqa: BLE001 - "cannot be inspected": as the interface says
            return "other"
        if key in self._files:
            return "file"
        if key in self._dirs:
            return "dir"
        return None

    def size(self, path: RemotePath) -> int | None:
        self._ensure(path.key)
        return self._files.get(path.key)

    def open(self, path: RemotePath, *, root: Any = None) -> RemoteFile:
        """Object storage has no symlinks, FIFOs or devices: a listed object is a regular file."""
        path = self.path(path)
        try:
            self._ensure(path.key)
        except Exception as exc:  # noqa: BLE001 - any backend error names the file
            raise _error(path, exc, self.secrets) from None
        size = self._files.get(path.key)
        if size is None:
            if path.key in self._dirs:
                raise UnreadableFile(path, "not a regular file (a directory): not read")
            raise UnreadableFile(path, "file not found")
        return RemoteFile(self, path, size)

    # -- fetching --------------------------------------------------------------------------------
    def extents(self, key: str) -> Extents:
        with self._lock:
            ext = self._cache.get(key)
            if ext is None:
                ext = self._cache[key] = Extents()
            return ext

    def fetch(self, path: RemotePath, ranges: Sequence[tuple[int, int]], strict: bool = False) -> None:
        """Fetch ``ranges`` of one file (joining other readers' requests inside ``load_together``);
        ``strict``: a failure raises ``UnreadableFile`` (a prefetch that fails is simply not cached)."""
        errors: dict[str, BaseException] = {}
        self._batcher.fetch([(path.key, s, e, errors) for s, e in ranges])
        if strict and path.key in errors:
            raise _error(path, errors[path.key], self.secrets)

    def _dispatch(self, wants: builtins.list[Any]) -> None:
        """One round: the wanted ranges of every file, merged and split by the cost model, fetched
        concurrently; the wanted bytes go to the cache; failures to each asker's ``errors``."""
        by_key: dict[str, builtins.list[tuple[int, int]]] = {}
        askers: dict[str, builtins.list[dict]] = {}
        for key, start, end, errors in wants:
            by_key.setdefault(key, []).append((start, end))
            askers.setdefault(key, []).append(errors)
        requests = [(key, s, e) for key, rs in by_key.items() for s, e in plan_requests(rs, self.tuning)]
        if not requests:
            return
        files = sorted(by_key)
        what = (f"{len(requests)} read{'s' if len(requests) != 1 else ''} of {RemotePath(self.scheme, files[0])}"
                + (f" and {len(files) - 1} other file{'s' if len(files) != 2 else ''}" if len(files) > 1 else ""))
        try:
            results: builtins.list[Any] = self._read(what, lambda: self._cat(requests))
        except DeadlineExpired as exc:
            results = [exc] * len(requests)
        got: dict[str, builtins.list[tuple[int, bytes]]] = {}
        with self._lock:
            self.stats.rounds += 1
            self.stats.requests += len(requests)
            for (key, s, e), res in zip(requests, results):
                if isinstance(res, BaseException):
                    for errs in askers[key]:
                        errs.setdefault(key, res)
                    continue
                self.stats.bytes += len(res)
                got.setdefault(key, []).append((s, res))
            for folder in {f for key in by_key for f in self._folders if key.startswith(f + "/")}:
                self.stats.by_folder[folder] = self.stats.by_folder.get(folder, 0) + 1
        for key, blobs in got.items():
            blobs.sort(key=lambda b: b[0])
            ext = self.extents(key)
            for start, end in by_key[key]:  # keep what was asked for, not the gaps read to save requests
                data = cut(blobs, start, end)  # a range across two parts of a split one is joined here
                if data is not None:
                    ext.add(start, data)

    def _cat(self, requests: builtins.list[tuple[str, int, int]]) -> builtins.list[Any]:
        """The bytes of each ``(key, start, end)``, or the exception that stopped it, concurrently."""
        if self._async:
            return self.fs.cat_ranges([k for k, _, _ in requests], [s for _, s, _ in requests],
                                      [e for _, _, e in requests], batch_size=self.tuning.max_connections,
                                      on_error="return")

        def one(r: tuple[str, int, int]) -> Any:
            try:
                return self.fs.cat_file(r[0], start=r[1], end=r[2])
            except Exception as exc:  # noqa: BLE001 - returned to the asker, as cat_ranges does
                return exc

        if self._local or len(requests) == 1:
            return [one(r) for r in requests]
        with ThreadPoolExecutor(min(self.tuning.max_connections, len(requests))) as pool:
            return list(pool.map(one, requests))

    # -- reading many checkpoints --------------------------------------------------------------
    def prefetch_folders(self, folders: Sequence[RemotePath], plan: ReadPlan) -> builtins.list[Any]:
        """Rounds 1 and 2 of ``plan`` for every file below ``folders``, all folders in the same batches.
        Returns what a third planned round would fetch (files whose directory lay beyond the tail guessed):
        sent with the readers' first misses (``load_together``), not as a round of its own."""
        with self._lock:
            self._folders = sorted({f.key.rstrip("/") for f in folders} | set(self._folders))
        for f in folders:
            self._ensure(f.key)
        files = [(k, n) for f in folders for k, n in self._files_below(f.key) if "/.ckptfix/" not in k[len(f.key):]]
        self._dispatch([(k, s, e, {}) for k, n in files
                        for s, e in plan.first_reads(k.rsplit("/", 1)[-1], n, self.tuning)])
        wants: builtins.list[Any] = []
        for planned in range(2):
            wants = [(k, s, e, {}) for k, n in files for s, e in
                     plan.next_reads(k.rsplit("/", 1)[-1], n, self.extents(k), RemotePath(self.scheme, k))]
            if planned == 0 and wants:
                self._dispatch(wants)
        return wants

    def load_together(self, folders: Sequence[Any], load: Callable[[Any], T], plan: ReadPlan | None = None) -> builtins.list[T]:
        folders = [self.path(f) for f in folders]
        later = self.prefetch_folders(folders, plan) if plan is not None else []
        if not later:
            return self._batcher.run_each(load, folders, workers=min(len(folders), 256))
        # the planned third round waits, as one more reader, for the readers' first misses (the step
        # storages), and goes out with them
        items: builtins.list[Any] = [_PLANNED, *folders]
        out: builtins.list[Any] = self._batcher.run_each(
            lambda f: self._batcher.fetch(later) if f is _PLANNED else load(f), items, workers=min(len(items), 257))
        return out[1:]

    def release(self, folder: Any) -> None:
        prefix = self.path(folder).key.rstrip("/") + "/"
        with self._lock:
            for key in [k for k in self._cache if k.startswith(prefix)]:
                del self._cache[key]
            self._folders = [f for f in self._folders if not (f + "/").startswith(prefix)]

    # -- writing (repair) ------------------------------------------------------------------------
    def forget(self, path: RemotePath) -> None:
        """Drop what is known of ``path`` (cached bytes, listed size): the next read asks the server."""
        with self._lock:
            self._cache.pop(path.key, None)
            self._files.pop(path.key, None)
            self._index = None
            self._stale.add(path.key)

    def stat(self, path: RemotePath) -> int | None:
        """The object's size asked of the server now (None: absent)."""
        with self._lock:
            self.stats.requests += 1
            self.stats.rounds += 1
        try:
            info = self._read(f"the size of {path}", lambda: self.fs.info(path.key))
        except FileNotFoundError:
            return None
        finally:
            self._stale.discard(path.key)
        if info.get("type") == "directory":
            return None
        size = int(info.get("size") or 0)
        with self._lock:
            self._files[path.key] = size
            self._index = None
        return size

    def read_now(self, path: RemotePath, limit: int, what: str) -> bytes:
        """The whole object as the server holds it now (never from the cache)."""
        self.forget(path)
        return self.open(path).read_all(limit, what)

    def regular(self, path: RemotePath) -> bool | None:
        """An object is a regular file (object storage has no links, FIFOs or devices)."""
        return True if self.stat(path) is not None else None

    def sha256(self, path: RemotePath, limit: int) -> str | None:
        """The object's SHA-256 as the server holds it now: one HEAD (None: absent), one GET."""
        self.forget(path)
        if self.stat(path) is None:  # the size asked now: the read below needs no other HEAD
            return None
        return hashlib.sha256(self.open(path).read_all(limit, "object")).hexdigest()

    def replace(self, path: RemotePath, data: bytes, expect: object = ANY,
                before: Callable[[], None] | None = None) -> object:
        """Write the whole object in one request (a PUT: readers see the old or the new object)."""
        if before is not None:
            before()
        self._write(lambda: self.fs.pipe_file(path.key, data), path, f"writing {path}")
        return ANY

    def create(self, path: RemotePath, data: bytes) -> None:
        self.replace(path, data)

    def copy(self, src: RemotePath, dst: RemotePath) -> None:
        """A server-side copy (the bytes do not travel through this machine)."""
        self._write(lambda: self.fs.copy(src.key, dst.key), dst, f"copying {src} to {dst}")

    def put_back(self, copy: RemotePath, path: RemotePath, digest: str, expect: object = ANY,
                 limit: int | None = None) -> None:
        self.copy(copy, path)
        if self.sha256(path, limit if limit is not None else _MAX_PUT_BACK) != digest:
            raise RepairFailed(f"{path}: after copying the backup back, the SHA-256 is not the original's")

    def remove(self, path: RemotePath, expect: object = ANY) -> None:
        try:
            self._write(lambda: self.fs.rm_file(path.key), path, f"deleting {path}")
        except FileNotFoundError:
            pass  # nothing there (S3 answers a deletion of a missing key with success)

    def make_folder(self, path: RemotePath, exist_ok: bool = False) -> None:
        """Object storage has no folders: a prefix exists once an object is written below it."""

    def undoing(self) -> AbstractContextManager[None]:
        """An undo after a failed write waits without the command's deadline (each request keeps its own timeouts)."""
        return self.deadline.lifted()

    def restore_hint(self, copy: RemotePath | None, path: RemotePath) -> str:
        if copy is None:
            return f"delete {path}  # did not exist before"
        return f"copy {copy} to {path}"

    def _write(self, op: Callable[[], Any], path: RemotePath, what: str) -> None:
        """A write is never abandoned half-way (the server could apply it later): past the deadline it is
        not started; once started, its requests' own timeouts and retries bound it."""
        self.deadline.check(what)
        with self._lock:
            self.stats.writes += 1
            self.stats.requests += 1
            self.stats.rounds += 1
        try:
            op()
        finally:
            self.forget(path)
