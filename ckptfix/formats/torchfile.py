"""Read files written by ``torch.save`` without torch and without running pickle code.

The zip format: ``<prefix>/data.pkl`` (the pickled object), ``<prefix>/data/<key>`` (raw storage
bytes), ``<prefix>/byteorder``. Tensors come back as ``TensorRef`` records; the bytes of a storage are
read only when ``read_scalars`` asks for values, so getting an optimizer's step count reads a few
kilobytes of a multi-gigabyte file. The legacy (pre-1.6, non-zip) format is decoded too.
"""

from __future__ import annotations

import reprlib
import struct
from collections.abc import Sequence
from typing import Any

from ckptfix.errors import ResourceLimit, UnreadableFile
from ckptfix.formats.allowlist import TORCH_STATE, AllowedGlobal, StorageType
from ckptfix.formats.limits import DEFAULT_LIMITS, Limits
from ckptfix.formats.objects import DTYPES, Refused, StorageRef, TensorRef
from ckptfix.formats.pickle_vm import decode_pickle, decode_whole_pickle
from ckptfix.formats.source import LOCAL, ByteSource, Store
from ckptfix.formats.zipdir import LOCAL_SIG, ZipDirectory, ZipEntry, entry_span
from ckptfix.records import replace

__all__ = ["TorchFile", "data_pkl_entry", "decode_data_pkl", "decode_torch", "open_torch_file", "storage_from_pid"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_short_repr = reprlib.Repr()  # bounded: a crafted persistent id may be huge or a shared-structure bomb
_short_repr.maxlevel, _short_repr.maxstring, _short_repr.maxother = 3, 40, 40


class TorchFile:
    """A decoded torch file. Keep it open (a context manager) while reading scalar values."""

    def __init__(self, path: Any, kind: str, obj: Any, f: ByteSource, zip_dir: ZipDirectory | None = None,
                 prefix: str = "", little_endian: bool = True, legacy_offsets: dict[str, int] | None = None,
                 limits: Limits = DEFAULT_LIMITS) -> None:
        self.path = path
        self.format = kind  # "zip" or "legacy"
        self.obj = obj  # the decoded object
        self.source = f
        self._zip = zip_dir
        self._prefix = prefix
        self._little_endian = little_endian
        self._legacy_offsets = legacy_offsets or {}
        self._limits = limits
        # storages read so far, by zip entry: a storage many views share is read (and CRC-checked) once
        self._storages: dict[str, bytes] = {}
        self._storage_bytes_read = 0

    @property
    def bytes_read(self) -> int:
        return self.source.bytes_read

    @property
    def size(self) -> int:
        return self.source.size

    def __enter__(self) -> TorchFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.source.close()

    def read_scalar(self, t: TensorRef) -> int | float | bool:
        """The value of a one-element tensor, reading only its storage's few bytes."""
        return self.read_scalars([t])[0]

    def read_scalars(self, refs: Sequence[TensorRef]) -> list[int | float | bool]:
        """The values of one-element tensors. A storage that several of them view is read (and its CRC
        checked) once; the storage bytes read per file are bounded (``Limits.max_storage_bytes_read``).
        Their storages are first announced to the source as one batch (``prefetch``: a remote source
        fetches them in one round trip; the local one is not asked)."""
        if self._zip is not None and len(refs) > 1 and self.source.wants_prefetch:
            self.source.prefetch(self._spans(refs))
        out: list[int | float | bool] = []
        little = self._little_endian
        for t in refs:
            if t.shape and t.numel != 1:
                raise UnreadableFile(self.path, f"expected a one-element tensor, found shape {list(t.shape)}")
            s = t.storage
            size, fmt = DTYPES.get(s.dtype, (s.itemsize, None))
            raw = self._storage_bytes(s, t.offset * size, size)
            try:
                out.append(_decode_scalar(raw, s.dtype, fmt, little))
            except (ValueError, struct.error) as exc:
                raise UnreadableFile(self.path, f"storage {s.key!r}: {exc}") from None
        return out

    def _spans(self, refs: Sequence[TensorRef]) -> list[tuple[int, int]]:
        """The byte ranges reading these tensors' storages will touch (storages not read yet)."""
        assert self._zip is not None
        entries, size, prefix, seen = self._zip.entries, self.source.size, self._prefix, set()
        out = []
        for t in refs:
            key = t.storage.key
            if key in seen:
                continue
            seen.add(key)
            e = entries.get(f"{prefix}/data/{key}")
            if e is not None and e.name not in self._storages and e.size <= self._limits.max_scalar_entry_bytes:
                out.append(entry_span(e, size))
        return out

    def _storage_bytes(self, s: StorageRef, start: int, n: int) -> bytes:
        if self._zip is not None:
            entry = self._zip.entries.get(f"{self._prefix}/data/{s.key}")
            if entry is None:
                raise UnreadableFile(self.path, f"storage {s.key!r} named by the pickle is missing from the archive")
            if entry.size < s.nbytes:
                raise UnreadableFile(self.path, f"storage {s.key!r} is {entry.size} bytes; the pickle declares {s.nbytes}")
            if entry.size <= self._limits.max_scalar_entry_bytes:
                data = self._storages.get(entry.name)
                if data is None:
                    self._charge(entry.size)
                    data = self._storages[entry.name] = self._zip.read(entry, self._limits.max_scalar_entry_bytes, "storage")
                return data[start:start + n]
            self._charge(n)
            return self._zip.read(entry, entry.size, "storage", start=start, length=n)
        off = self._legacy_offsets.get(s.key)
        if off is None:
            raise UnreadableFile(self.path, f"legacy storage {s.key!r} not found")
        self._charge(n)
        return self.source.read_at(off + start, n)

    def _charge(self, n: int) -> None:
        """Bound the storage bytes one file may make ckptfix read (a crafted file's many views)."""
        self._storage_bytes_read += n
        limit = self._limits.max_storage_bytes_read
        if self._storage_bytes_read > limit:
            raise ResourceLimit(self.path, f"reading its scalar values would read more than {limit:,} bytes of storages")


_SCALAR_FORMATS = {(fmt, little): struct.Struct(("<" if little else ">") + fmt).unpack
                   for _size, fmt in DTYPES.values() if fmt for little in (True, False)}


def _decode_scalar(raw: bytes, dtype: str, fmt: str | None, little: bool) -> int | float | bool:
    if dtype == "bfloat16":
        (bits,) = struct.unpack("<H" if little else ">H", raw)
        return struct.unpack("<f", struct.pack("<I", bits << 16))[0]
    if fmt is None:
        raise ValueError(f"cannot decode a {dtype} scalar")
    return _SCALAR_FORMATS[(fmt, little)](raw)[0]


def open_torch_file(
    path: Any,
    allow: dict[tuple[str, str], AllowedGlobal] = TORCH_STATE,
    limits: Limits = DEFAULT_LIMITS,
    *,
    store: Store = LOCAL,
    root: Any = None,
) -> TorchFile:
    """Open (through the store's guarded open) and decode a torch file; raises ``UnreadableFile``
    (or a subclass) naming the problem. ``root``: the folder a symlink must stay inside."""
    f = store.open(path, root=root)
    try:
        return decode_torch(f, allow, limits)
    except BaseException:
        f.close()
        raise


def decode_torch(f: ByteSource, allow: dict[tuple[str, str], AllowedGlobal] = TORCH_STATE,
                 limits: Limits = DEFAULT_LIMITS) -> TorchFile:
    """Decode the torch file ``f`` holds (zip or legacy format); the source stays open in the result."""
    path = f.path
    if f.size == 0:
        raise UnreadableFile(path, "empty file (0 bytes)")
    head = f.read_at(0, min(f.size, 16))
    if head.startswith(LOCAL_SIG) or (head.startswith(b"PK") and f.size >= 22):
        return _decode_zip(f, allow, limits)
    if head[:1] == b"\x80":
        return _decode_legacy(f, allow, limits)
    if f.size >= 512 and f.read_at(257, 5) == b"ustar":
        raise UnreadableFile(path, "legacy tar-format torch file (torch < 0.4): not supported")
    raise UnreadableFile(path, "not a torch file (neither a zip archive nor a pickle)")


def data_pkl_entry(zd: ZipDirectory) -> tuple[ZipEntry, str]:
    """The archive's one ``<prefix>/data.pkl`` entry and its prefix (``scheduler`` for ``scheduler.bin``)."""
    pkl = [n for n in zd.entries if n.endswith("/data.pkl") and n.count("/") == 1]
    if not pkl:
        raise UnreadableFile(zd.f.path, "zip archive without a <name>/data.pkl entry: not a torch file")
    if len(pkl) > 1:
        raise UnreadableFile(zd.f.path, f"zip archive with {len(pkl)} data.pkl entries: ambiguous")
    return zd.entries[pkl[0]], pkl[0][: -len("/data.pkl")]


def decode_data_pkl(path: Any, data: bytes, zd: ZipDirectory, prefix: str,
                    allow: dict[tuple[str, str], AllowedGlobal] = TORCH_STATE, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Decode a torch zip's ``data.pkl`` bytes: storages must exist in the archive, nothing may follow STOP."""
    def persistent_load(pid: Any) -> Any:
        return storage_from_pid(path, pid, zd.entries, prefix)

    ops = limits.pickle_ops_base + limits.pickle_ops_per_entry * len(zd.entries)
    if ops < limits.max_pickle_ops:  # the opcode budget this archive's storages justify (limits.py)
        limits = replace(limits, max_pickle_ops=ops)
    return decode_whole_pickle(path, data, allow, persistent_load, limits, "data.pkl")


def _decode_zip(f: ByteSource, allow, limits: Limits) -> TorchFile:
    path = f.path
    zd = ZipDirectory(f, limits)
    entry, prefix = data_pkl_entry(zd)
    little = True
    bo = zd.entries.get(f"{prefix}/byteorder")
    if bo is not None:
        order = zd.read(bo, 16, "byteorder").strip()
        if order not in (b"little", b"big"):
            raise UnreadableFile(path, f"unknown byteorder {order!r}")
        little = order == b"little"
    data = zd.read(entry, limits.max_pickle_bytes, "pickle")
    obj = decode_data_pkl(path, data, zd, prefix, allow, limits)
    return TorchFile(path, "zip", obj, f, zd, prefix, little, limits=limits)


def storage_from_pid(path: Any, pid: Any, entries: dict[str, ZipEntry] | None, prefix: str) -> StorageRef:
    """The ``StorageRef`` of a persistent id ``('storage', <type>, key, location, numel)``, checked."""
    if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
        raise UnreadableFile(path, f"unexpected persistent id {_short_repr.repr(pid)[:80]}")
    stype, key, location, numel = pid[1], pid[2], pid[3], pid[4]
    if type(stype) is not StorageType:
        if isinstance(stype, Refused):
            return stype  # type: ignore[return-value]
        raise UnreadableFile(path, f"malformed storage reference {_short_repr.repr(pid)[:80]}")
    if type(key) is not str or type(location) is not str or type(numel) is not int or numel < 0:
        raise UnreadableFile(path, f"malformed storage reference {_short_repr.repr(pid)[:80]}")
    if entries is not None and f"{prefix}/data/{key}" not in entries:
        raise UnreadableFile(path, f"storage {key!r} named by the pickle is missing from the archive")
    return StorageRef(key, stype.dtype, stype.itemsize, location, numel)


def _decode_legacy(f: ByteSource, allow, limits: Limits) -> TorchFile:
    """Legacy format: magic, protocol, sys_info, object, storage keys pickles, then raw storages."""
    path = f.path
    size = min(f.size, limits.max_pickle_bytes)
    data = f.read_at(0, size)
    refs: dict[str, StorageRef] = {}

    def persistent_load(pid: Any) -> Any:
        ref = storage_from_pid(path, pid, None, "")
        if isinstance(ref, StorageRef):
            refs.setdefault(ref.key, ref)
        return ref

    what = "legacy torch pickle"
    magic = decode_pickle(path, data, {}, None, limits, 0, what)
    if magic.value != _LEGACY_MAGIC:
        raise UnreadableFile(path, "a pickle, but not a torch file (no torch magic number)")
    proto = decode_pickle(path, data, {}, None, limits, magic.end, what)
    if proto.value != 1001:
        raise UnreadableFile(path, f"legacy torch protocol {proto.value!r} is not supported")
    info = decode_pickle(path, data, {}, None, limits, proto.end, what)
    if isinstance(info.value, dict) and info.value.get("little_endian") is False:
        raise UnreadableFile(path, "big-endian legacy torch files are not supported")
    main = decode_pickle(path, data, allow, persistent_load, limits, info.end, what)
    keys = decode_pickle(path, data, {}, None, limits, main.end, what)
    if not isinstance(keys.value, list):
        raise UnreadableFile(path, "legacy torch file: storage key list missing")
    offsets: dict[str, int] = {}
    pos = keys.end
    for key in keys.value:
        if not isinstance(key, str):
            raise UnreadableFile(path, "legacy torch file: storage keys must be strings")
        ref = refs.get(key)
        if ref is None:
            raise UnreadableFile(path, f"legacy torch file lists unknown storage {key!r}")
        (numel,) = struct.unpack("<q", f.read_at(pos, 8))
        if numel != ref.numel:
            raise UnreadableFile(path, f"legacy storage {key!r}: {numel} elements on disk, {ref.numel} declared")
        offsets[key] = pos + 8
        pos += 8 + numel * ref.itemsize
    if pos > f.size:
        raise UnreadableFile(path, f"truncated: storages need {pos:,} bytes, the file has {f.size:,}")
    if f.size > limits.max_pickle_bytes and pos == 0:
        raise ResourceLimit(path, "legacy torch file too large")
    return TorchFile(path, "legacy", main.value, f, None, "", True, offsets, limits)
