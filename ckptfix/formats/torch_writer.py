"""Write a plain state (a scheduler's ``state_dict()``) in ``torch.save``'s zip format, without torch.

:func:`dumps` returns the bytes ``torch.save(obj, f)`` writes with torch 2.13 (the default
``_use_new_zipfile_serialization=True`` and ``pickle_protocol=2``) for an object made only of
``dict``/``list``/``tuple`` containers and ``str``/``int``/``float``/``bool``/``None`` values. A plain
state has no tensor, so the archive holds no ``data/<key>`` storage record; torch writes, in order::

    <name>/data.pkl                  the pickle (protocol 2)
    <name>/.format_version           b"1"
    <name>/.storage_alignment        b"64"
    <name>/byteorder                 b"little" (sys.byteorder)
    <name>/version                   b"3\\n"
    <name>/.data/serialization_id    40 ASCII digits (see below)

``<name>`` is the archive name torch derives from the destination (:func:`archive_name_for`:
``scheduler`` for ``scheduler.bin``, ``archive`` for a buffer). The zip is what torch's miniz-based
``PyTorchStreamWriter`` emits: every entry stored (method 0), general-purpose flags ``0x0808`` (bit 3:
sizes and CRC-32 in a data descriptor after the data, zeros in the local header; bit 11: UTF-8 name),
version-needed 0, DOS time and date 0; the local header's only extra field is ``FB`` + a 16-bit length
+ that many ``Z`` bytes, so the entry's data starts at a multiple of 64 (possibly ``FB\\0\\0``); the
data descriptor is ``PK\\7\\8``, CRC-32, 32-bit compressed and uncompressed sizes; the central
directory repeats each entry with no extra field; then, always (torch opens the archive with
``MZ_ZIP_FLAG_WRITE_ZIP64``), a zip64 end-of-central-directory record (made-by ``0x031e``, needed
``0x002d``) and its locator, then the classic end record. Zip64 *extra fields* would only appear
for a record or offset of 4 GiB or more; this writer refuses such a state instead of writing them.

The serialization id is not random: torch computes it from what it wrote. Its first 20 digits are
``c10::hash_combine`` over ``std::hash`` of the record names, a constant for the fixed record set of
a plain state on a libstdc++ (Linux) build of torch; its last 20 digits are ``c10::hash_combine``
over the CRC-32 of each record in write order. :func:`dumps` computes it the same way, so its output
equals ``torch.save``'s byte for byte (torch builds on macOS or Windows hash the names with another
``std::hash`` and differ in those 20 digits only; torch.load reads the id for logging, never checks it).

Four more types a state may hold keep their type (issues 19, 21): ``collections.OrderedDict`` (pickled
by the standard pickler as torch's does: ``GLOBAL collections OrderedDict``, ``REDUCE``, ``SETITEMS``),
``collections.Counter`` (``MultiStepLR`` keeps its milestones in one: ``GLOBAL collections Counter``, the
``dict`` of its items, ``TUPLE1``, ``REDUCE``: ``Counter.__reduce__``, as torch's pickler writes it),
and ``torch.Size`` / ``torch.device``, which ckptfix's reader decodes as ``formats.objects.TorchSize`` /
``TorchDevice``. torch pickles those two as ``GLOBAL torch Size`` (``torch device``) and ``REDUCE`` of
their arguments; without torch the pickler cannot name a ``torch`` global (it imports the module to
check it), so it names a stand-in class of this module, with the same arguments and the same memo
entries, and the finished pickle's ``GLOBAL`` opcodes naming a stand-in are rewritten to name torch's
class (found by walking the opcodes with ``pickletools.genops``, never by searching the bytes: a string
value may hold any text). Protocol 2 has no frames or offsets, so the rest of the pickle is unchanged:
the bytes equal ``torch.save``'s for states holding these types too.

Why it is safe: before anything is written, every value reachable from ``obj`` is checked for its
*exact* type (subclasses such as ``numpy.float64`` or a subclass of ``Counter`` are refused, as are cycles), and the
error names the path of the offending value (``state['base_lrs'][1]``). The pickle is then produced by
the standard ``pickle.Pickler`` that torch itself uses, in a subclass whose ``persistent_id`` hook
(called by the pickler for every object before anything else, like torch's own hook) refuses any object
of another type. For the exact builtin types the pickler writes fixed opcodes (no ``__reduce__``,
``copyreg`` or global lookup); ``OrderedDict``, ``Counter`` and the two stand-ins are the only globals a pickle
can name, so no path can pickle code or an arbitrary object, and the pickle's bytes are the ones torch's
pickler produces on the same interpreter.

What it writes reads back: ``torch.load(weights_only=True)`` reads every file ``dumps`` accepts to
write (ints needing LONG4, which that loader rejects, are refused: ``MAX_INT_BYTES``), and so does
ckptfix's reader as far as nesting goes (``MAX_DEPTH`` is its limit). Its size and work limits
(``formats/limits.py``: 64 MiB of pickle, 2,000,000 opcodes, 5,000,000 values counting shared parts
per use) are not checked here; a scheduler state is four orders of magnitude below them.
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import struct
import sys
import zlib
from collections import Counter, OrderedDict
from typing import Any

from ckptfix.formats.objects import TorchDevice, TorchSize

__all__ = ["MAX_DEPTH", "MAX_INT_BYTES", "archive_name_for", "dumps"]

# What this module writes, both torch.load(weights_only=True) and ckptfix's reader read back:
# - nesting: ckptfix's reader refuses more than 64 containers inside containers, the root one
#   included (formats/limits.py max_nesting; a test keeps them equal). A scheduler state has 2 or 3.
# - ints: pickle writes an int of more than 255 bytes (two's complement) as LONG4, an opcode torch's
#   weights-only unpickler rejects ("Unsupported operand 139"); up to 255 bytes it is LONG1.
MAX_DEPTH = 64
MAX_INT_BYTES = 255

_ATOMS = (str, int, float, bool, type(None))
_CONTAINERS = (dict, list, tuple, OrderedDict, Counter)
_MAPPINGS = (dict, OrderedDict, Counter)
#: torch types written back as torch.save writes them (the reader's stand-ins for them, their arguments).
_TORCH_VALUES = (TorchSize, TorchDevice)
_PLAIN = frozenset(_ATOMS + _CONTAINERS + _TORCH_VALUES)
_KEY_TYPES = (str, int)
_PLAIN_NAMES = "dict, list, tuple, str, int, float, bool, None, OrderedDict, Counter, torch.Size or torch.device"

# torch 2.13: torch/serialization.py _save() and caffe2/serialize/inline_container.cc.
_PICKLE_PROTOCOL = 2  # torch.serialization.DEFAULT_PROTOCOL
_FORMAT_VERSION = b"1"
_STORAGE_ALIGNMENT = 64  # torch.utils.serialization.config.save.storage_alignment
_FILE_FORMAT_VERSION = b"3\n"  # kProducedFileFormatVersion, written as "version" (below 6)
# c10::hash_combine over libstdc++'s std::hash<std::string> (_Hash_bytes, seed 0xc70f6907) of the
# record names, in the iteration order of PyTorchStreamWriter::files_written_ (an unordered_set):
# version, byteorder, .storage_alignment, .format_version, data.pkl. Constant for a plain state.
_RECORD_NAMES_HASH = 2908468677762923104
_MASK64 = (1 << 64) - 1

_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")
_DATA_DESCRIPTOR = struct.Struct("<IIII")
_CENTRAL_HEADER = struct.Struct("<IHHHHHHIIIHHHHHII")
_ZIP64_END = struct.Struct("<IQHHIIQQQQ")
_ZIP64_LOCATOR = struct.Struct("<IIQI")
_END = struct.Struct("<IHHHHIIH")
_FLAGS = 0x0808  # bit 3: data descriptor; bit 11: UTF-8 file name (miniz sets it unless asked not to)
_ZIP32_LIMIT = 0xFFFFFFFF  # at or above, miniz adds zip64 extra fields: refused (see the docstring)


def dumps(obj: Any, archive_name: str, *, serialization_id: str | None = None) -> bytes:
    """The bytes ``torch.save(obj, f)`` writes (torch 2.13), for a plain ``obj``.

    ``archive_name`` is the entry prefix (``archive_name_for(path)``; ``"scheduler"`` for
    ``scheduler.bin``). ``serialization_id`` replaces the id torch would compute (tests, or to keep
    another file's id). Raises ``TypeError`` for a value that is not plain and ``ValueError`` for a
    cycle, nesting deeper than ``MAX_DEPTH``, an int of more than ``MAX_INT_BYTES`` pickled, a bad
    archive name or a state of 4 GiB or more; the message names the value's path
    (``state['base_lrs'][1]``).
    """
    _check_archive_name(archive_name)
    _check(obj, "state", 0, set(), set())
    buf = io.BytesIO()
    pickler = _PlainPickler(buf, protocol=_PICKLE_PROTOCOL)
    pickler.dump(obj)
    pkl = buf.getvalue()
    if pickler.stand_ins:
        pkl = _name_torch_globals(pkl)
    records = [
        ("data.pkl", pkl),
        (".format_version", _FORMAT_VERSION),
        (".storage_alignment", str(_STORAGE_ALIGNMENT).encode("ascii")),
        ("byteorder", sys.byteorder.encode("ascii")),
        ("version", _FILE_FORMAT_VERSION),
    ]
    crcs = [zlib.crc32(data) for _, data in records]
    if serialization_id is None:
        serialization_id = _serialization_id(crcs)
    elif type(serialization_id) is not str or not serialization_id.isascii():
        raise ValueError(f"serialization_id must be an ASCII str, not {serialization_id!r:.60}")
    sid = serialization_id.encode("ascii")
    records.append((".data/serialization_id", sid))
    crcs.append(zlib.crc32(sid))
    return _zip(archive_name, records, crcs)


def archive_name_for(path: str | os.PathLike[str]) -> str:
    """The entry prefix ``torch.save(obj, path)`` uses: the file name without its last extension.

    Mirrors torch: ``PyTorchStreamWriter``'s ``basename`` (after the last ``/`` or ``\\``, up to the
    last ``.``) for an ASCII path; ``"archive"`` for a non-ASCII one (torch then writes through a
    Python file object) as for a buffer. ``ValueError`` where torch raises "invalid file name".
    """
    name = os.fspath(path)
    if not isinstance(name, str):
        raise TypeError(f"expected a str or os.PathLike[str] path, not {type(name).__name__}")
    if not name.isascii():
        return "archive"
    start = max(name.rfind("/"), name.rfind("\\")) + 1
    stem = name[start:]
    dot = stem.rfind(".")
    stem = stem[:dot] if dot >= 0 else stem
    if not stem:
        raise ValueError(f"torch.save derives an empty archive name from {name!r}")
    return stem


def _check_archive_name(name: object) -> None:
    if type(name) is not str:
        raise TypeError(f"archive_name must be a str, not {type(name).__name__}")
    # torch derives it from an ASCII file name (or uses "archive"): never empty, no separator, no NUL.
    if not name or not name.isascii() or any(c in name for c in "/\\\0"):
        raise ValueError(f"archive_name {name!r:.60} is not a name torch.save would use (non-empty ASCII, no / \\ or NUL)")
    if len(name) > 1024:
        raise ValueError(f"archive_name is {len(name)} characters long")


def _type_name(t: type) -> str:
    name = t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
    base = next((b for b in (bool, int, float, str, dict, list, tuple) if issubclass(t, b)), None)
    return f"{name} (a subclass of {base.__name__})" if base is not None else name


def _check(obj: Any, path: str, depth: int, active: set[int], done: set[int]) -> None:
    """Refuse anything but exact plain types, naming the path; visit each container once."""
    t = type(obj)
    if t in _TORCH_VALUES:  # what is pickled is its arguments: ints (a Size), a name and an index (a device)
        args = tuple(obj) if t is TorchSize else obj.args
        if any(type(a) not in (int, str) for a in args):
            raise TypeError(f"{path} is a {_type_name(t)} holding {args!r:.80}, not ints and a name")
        _check(args, path, depth, set(), set())  # fresh sets: the tuple is a temporary (its id may be reused)
        return
    if t in _ATOMS:
        if t is int and obj.bit_length() >= 8 * MAX_INT_BYTES - 8 and len(pickle.encode_long(obj)) > MAX_INT_BYTES:
            raise ValueError(f"{path} is an int of {obj.bit_length():,} bits: more than {MAX_INT_BYTES} bytes "
                             "pickled (LONG4), which torch.load(weights_only=True) cannot read")
        return
    if t not in _CONTAINERS:
        raise TypeError(f"{path} is a {_type_name(t)}, not a plain value ({_PLAIN_NAMES})")
    i = id(obj)
    if i in active:
        raise ValueError(f"{path} contains itself (a cycle); a plain state is a tree")
    if i in done:
        return  # shared, already checked: pickle writes it once and refers to it (BINGET)
    if depth >= MAX_DEPTH:
        raise ValueError(f"{path} is a container inside {MAX_DEPTH} others: more than {MAX_DEPTH} levels deep")
    active.add(i)
    if t in _MAPPINGS:
        for k, v in obj.items():
            if type(k) not in _KEY_TYPES:
                raise TypeError(f"{path} has a key of type {_type_name(type(k))}; keys must be str or int")
            _check(v, f"{path}[{_key_repr(k)}]", depth + 1, active, done)
    else:
        for n, v in enumerate(obj):
            _check(v, f"{path}[{n}]", depth + 1, active, done)
    active.discard(i)
    done.add(i)


def _key_repr(k: str | int) -> str:
    r = repr(k)
    return r if len(r) <= 80 else r[:77] + "..."


class _SizeStandIn:
    """Named in place of ``torch.Size`` while pickling; ``_name_torch_globals`` renames it (never built)."""


class _DeviceStandIn:
    """Named in place of ``torch.device`` while pickling; ``_name_torch_globals`` renames it (never built)."""


#: GLOBAL argument (module and name, as pickletools shows it) of each stand-in -> torch's.
_TORCH_GLOBALS = {
    f"{__name__} {_SizeStandIn.__qualname__}": b"torch\nSize\n",
    f"{__name__} {_DeviceStandIn.__qualname__}": b"torch\ndevice\n",
}


#: The only globals a pickle written here names (as classes, never built here).
_GLOBALS = (OrderedDict, Counter, _SizeStandIn, _DeviceStandIn)


class _PlainPickler(pickle.Pickler):
    """torch's pickler setup (``pickle.Pickler``, a ``persistent_id`` hook, protocol 2).

    The hook is a second line of defence behind ``_check``: the pickler calls it for every object
    before looking at it, and it refuses any type outside the plain ones. It returns ``None``
    otherwise, which writes nothing: the bytes are those of torch's pickler for a state without tensors.
    ``reducer_override`` gives a ``TorchSize`` / ``TorchDevice`` the reduction torch's class has
    (``torch.Size((2, 3))``, ``torch.device("cuda", 1)``), naming a stand-in (see the module docstring).
    """

    stand_ins = False

    def persistent_id(self, obj: Any) -> None:
        if type(obj) not in _PLAIN and obj not in _GLOBALS:
            raise TypeError(f"refusing to pickle a {_type_name(type(obj))}: not a plain value")
        return None

    def reducer_override(self, obj: Any) -> Any:
        t = type(obj)
        if t is TorchSize:
            self.stand_ins = True
            return _SizeStandIn, (tuple(obj),)
        if t is TorchDevice:
            self.stand_ins = True
            # torch's __reduce__ makes a new str object each time (PyUnicode_FromStringAndSize), so pickle's
            # memo never shares it between devices: a copy here, not the reader's object, gives the same bytes
            return _DeviceStandIn, tuple(_fresh(a) if type(a) is str else a for a in obj.args)
        return NotImplemented


def _fresh(text: str) -> str:
    """A new str object equal to ``text`` (CPython's cached empty and one-character strings stay shared,
    as in torch's)."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass")


def _name_torch_globals(pkl: bytes) -> bytes:
    """``pkl`` with each ``GLOBAL`` naming a stand-in renamed to torch's class; every other byte kept."""
    out, last = [], 0
    ops = list(pickletools.genops(pkl))
    for (op, arg, pos), nxt in zip(ops, ops[1:] + [(None, None, len(pkl))]):
        if op.name == "GLOBAL" and arg in _TORCH_GLOBALS:
            out += [pkl[last:pos], b"c", _TORCH_GLOBALS[arg]]
            last = nxt[2]
    out.append(pkl[last:])
    return b"".join(out)


def _serialization_id(crcs: list[int]) -> str:
    combined = 0
    for crc in crcs:  # c10::hash_combine(seed, value) on 64-bit size_t
        combined ^= (crc + 0x9E3779B9 + (combined << 6) + (combined >> 2)) & _MASK64
    return f"{_RECORD_NAMES_HASH:020d}{combined:020d}"


def _zip(archive_name: str, records: list[tuple[str, bytes]], crcs: list[int]) -> bytes:
    names = [f"{archive_name}/{name}".encode("ascii") for name, _ in records]
    total = sum(30 + len(n) + 4 + 63 + len(d) + 16 + 46 + len(n) for n, (_, d) in zip(names, records)) + 98
    if total >= _ZIP32_LIMIT:
        raise ValueError(f"the state pickles to {len(records[0][1]):,} bytes: torch would need zip64 "
                         "extra fields at this size, which this writer does not write")
    out = bytearray()
    central = bytearray()
    for full, (_, data), crc in zip(names, records, crcs):
        offset = len(out)
        start = offset + _LOCAL_HEADER.size + len(full) + 4  # where the data would start with "FB" + length only
        pad = -start % _STORAGE_ALIGNMENT
        size = len(data)
        out += _LOCAL_HEADER.pack(0x04034B50, 0, _FLAGS, 0, 0, 0, 0, 0, 0, len(full), 4 + pad)
        out += full
        out += b"FB" + struct.pack("<H", pad) + b"Z" * pad
        out += data
        out += _DATA_DESCRIPTOR.pack(0x08074B50, crc, size, size)
        central += _CENTRAL_HEADER.pack(0x02014B50, 0, 0, _FLAGS, 0, 0, 0, crc, size, size, len(full),
                                        0, 0, 0, 0, 0, offset)
        central += full
    cd_offset = len(out)
    cd_size = len(central)
    n = len(records)
    out += central
    zip64_end = len(out)
    out += _ZIP64_END.pack(0x06064B50, _ZIP64_END.size - 12, 0x031E, 0x002D, 0, 0, n, n, cd_size, cd_offset)
    out += _ZIP64_LOCATOR.pack(0x07064B50, 0, zip64_end, 1)
    out += _END.pack(0x06054B50, 0, 0, n, n, cd_size, cd_offset, 0)
    return bytes(out)
