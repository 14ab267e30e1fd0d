"""``repair --optimizer-lr``: make optimizer*.bin's ``param_groups[i]["lr"]`` agree with the scheduler.

After a scheduler repair the optimizer still holds the old LR (CKF040) and the first step after the
resume runs with it. ``--optimizer-lr`` sets each group's ``lr`` to the scheduler's ``_last_lr[i]`` and,
when the group has one that differs, ``initial_lr`` to ``base_lrs[i]`` (CKF041). The optimizer and
scheduler files are paired by index (``optimizer.bin`` with ``scheduler.bin``, ``optimizer_1.bin``
with ``scheduler_1.bin``), as the analysis pairs them.

The optimizer is never loaded with torch and never re-pickled. torch pickles each group's ``lr`` as a
BINFLOAT opcode (``G`` + an 8-byte big-endian double) right after the key. The plan walks ``data.pkl``'s
opcodes (``pickletools.genops``: parsing only, nothing is built), finds the value after every ``'lr'``
key (a string literal, or a memo GET of the memoized ``'lr'``), and accepts the file only when

* the number of such keys equals the number of param groups that hold the key, and the 8 bytes found
  there are the decoded ``param_groups[i][key]``, in order;
* every value is a direct BINFLOAT that is not memoized itself (so nothing else can share it);
* ``<prefix>/data.pkl`` is stored, not deflated, and its CRC-32 is where the zip format puts it: the
  central directory record (+16) and either the local header (+14) or, when the local header has flag
  bit 3 set (torch's writer sets it and leaves 0 there), the data descriptor after the data;
* ckptfix's decoder, run on the patched ``data.pkl`` in memory, gives exactly the original object with
  the new values substituted.

Otherwise it refuses (exit 1) and says why. The new file is the old one with those 8-byte values and
the CRC-32 fields replaced: same size, every tensor byte where it was.

Applying (an ``OptimizerLrPatch`` is a repair action: ``apply.py`` runs it under its lock, with its
fault hook, in its backup folder):

``recheck``  the zip entry, ``data.pkl`` and the bytes to replace are still what the plan read.
``backup``   one pass over the file gives the SHA-256 of the original and of the patched file.
             ``<backup>/<name>.patch.json`` (and the manifest) record every write: offset, old and new
             bytes in hex, the CRCs and both hashes. The optimizer itself is **not** copied (it may be
             many GB): ``restore`` writes the old bytes back.
``write``    copy the file to ``<stem>.ckptfix-tmp-<random>`` in the same folder (``durable.patch_copy``);
             in the copy, check the old bytes and write the new ones; fsync; the copy's SHA-256 must be
             the planned one. The copy is the cost: a file of N GB needs N GB of free
             space and is read twice more for hashing.
``replace``  ``os.replace`` onto the real name, fsync the folder.
``verify``   ckptfix's reader decodes the new file to exactly the planned object, and
             ``torch.load(weights_only=True, mmap=True)["param_groups"]`` holds the new values.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ckptfix.coerce import as_real
from ckptfix.errors import RepairFailed, UnreadableFile
from ckptfix.formats.limits import DEFAULT_LIMITS
from ckptfix.formats.objects import TensorRef
from ckptfix.formats.pickle_sites import FloatSite, float_sites
from ckptfix.formats.source import LOCAL, ByteSource
from ckptfix.formats.source.durable import FileId, Folder, check_identity, patch_copy, read_regular, sha256
from ckptfix.formats.source.writable import ANY, WritableStore
from ckptfix.formats.torchfile import data_pkl_entry, decode_data_pkl, open_torch_file
from ckptfix.formats.zipdir import LOCAL_SIG, ZipDirectory, ZipLayoutError
from ckptfix.model.readers import OPTIMIZER_FILE
from ckptfix.records import Record, replace
from ckptfix.repair.actions.interface import (
    ActionKind,
    BackupEntry,
    Change,
    Fault,
    Journal,
    RepairAction,
    read_entry,
    same,
)
from ckptfix.repair.actions.torch_check import torch_installed, torch_load
from ckptfix.schedulers.formulas import lr_matches
from ckptfix.text import shown

__all__ = ["FIXES", "KEYS", "MAX_WRITES", "NOT_IN_PLACE", "NotPatchable", "OptimizerLrPatch", "Write", "plan_patch",
           "restore"]

KEYS = ("lr", "initial_lr")
FIXES = {"lr": "CKF040", "initial_lr": "CKF041"}
PATCH_FORMAT = "ckptfix optimizer patch 1"
#: A patch record's bounds: it replaces an 8-byte float per group and key, and 4-byte CRC-32 fields.
MAX_WRITES = 4096
_MAX_RECORD = 1 << 20
_HEX = re.compile(r"^(?:[0-9a-f]{2}){1,8}$")
#: Why a store that cannot patch a file in place (object storage) refuses ``--optimizer-lr``.
NOT_IN_PLACE = ("--optimizer-lr patches optimizer*.bin in place; on object storage that means uploading the whole "
                "multi-GB object again with no atomic replace: not done. Run repair without --optimizer-lr (the "
                "scheduler sets the right LR from the second step on), or repair a local copy")


class NotPatchable(Exception):
    """The optimizer file is not laid out so that ckptfix can patch it safely (the message says why)."""


class Write(Record):
    """Bytes to replace at one offset of the file."""

    offset: int  # in the file
    old: bytes
    new: bytes
    what: str  # "param_groups[0].lr", "CRC-32 of optimizer/data.pkl (central directory)", ...


class OptimizerLrPatch(Record, RepairAction):
    """The planned in-place patch of one optimizer file."""

    path: Path
    entry: str  # "optimizer/data.pkl"
    size: int  # the file's size, unchanged by the patch
    writes: tuple[Write, ...]
    old_crc: int
    new_crc: int
    changes: tuple[Change, ...]
    pickle: bytes = b""  # the original data.pkl (recheck)
    target: Any = None  # the decoded object after the patch
    kind: ActionKind = "patch"

    FILES = OPTIMIZER_FILE
    KINDS = frozenset({"patch"})

    def refusal(self, store: WritableStore) -> str | None:
        """Only a store that patches in place (the local disk) carries it out."""
        return None if store.patches_in_place else NOT_IN_PLACE

    def recheck(self, journal: Journal) -> None:
        """The file still holds what the plan read: same size, same data.pkl, the old bytes at every offset."""
        f = _open(self.path)
        try:
            if f.size != self.size:
                raise RepairFailed(f"{self.path} changed since the plan was made (size); run repair again")
            zd = ZipDirectory(f)
            e = zd.entries.get(self.entry)
            if e is None or e.crc != self.old_crc or zd.read(e, DEFAULT_LIMITS.max_pickle_bytes, "pickle") != self.pickle:
                raise RepairFailed(f"{self.path} changed since the plan was made (data.pkl); run repair again")
            for w in self.writes:
                if f.read_at(w.offset, len(w.old)) != w.old:
                    raise RepairFailed(f"{self.path} changed since the plan was made ({w.what}); run repair again")
        finally:
            f.close()

    def backup(self, journal: Journal) -> dict[str, Any]:
        """Write ``<backup>/<name>.patch.json`` (fsynced) and return the record (also for the manifest)."""
        assert journal.backup_dir is not None
        backup_dir = journal.backup_dir
        sha_old, sha_new = _hashes(self.path, self.writes)
        rec_path = backup_dir / record_name(self.path)
        rel = f"{backup_dir.parent.name}/{backup_dir.name}/{rec_path.name}"
        rec: dict[str, Any] = {
            "format": PATCH_FORMAT,
            "file": self.path.name,
            "action": "patch",
            "entry": self.entry,
            "size": self.size,
            "sha256": sha_old,
            "sha256_new": sha_new,
            "crc_original": f"{self.old_crc:08x}",
            "crc_new": f"{self.new_crc:08x}",
            "writes": [{"offset": w.offset, "what": w.what, "old": w.old.hex(), "new": w.new.hex()} for w in self.writes],
            "changes": [{"key": c.key, "old": repr(c.old), "new": repr(c.new), "fixes": list(c.fixes)} for c in self.changes],
            "patch": rec_path.name,
            "restore": f"python -c \"from ckptfix.repair.actions.optimizer_lr import restore; restore('{rel}')\"",
        }
        journal.store.create(rec_path, (json.dumps(rec, indent=2) + "\n").encode())
        journal.originals[self.path] = sha_old
        journal.records[self.path] = rec
        return rec

    def write(self, journal: Journal, hook: Fault) -> None:
        hook("build", self.path)
        hook("write", self.path)
        check_identity(self.path, journal.expected(self.path), "since ckptfix checked it")
        rec = journal.records[self.path]
        journal.written[self.path] = journal.store.patch(
            self.path, [(w.offset, w.old, w.new) for w in self.writes], self.size, rec["sha256_new"],
            lambda: hook("replace", self.path), lambda: journal.replaced.append(self.path), journal.temps,
            journal.expected(self.path))

    @classmethod
    def entry_fields(cls, entry: Mapping[str, Any], base: BackupEntry) -> BackupEntry:
        """The patch: its format, the file's size, and every write (offset, old and new bytes) inside it."""
        if entry.get("format") != PATCH_FORMAT:
            raise ValueError(f"its format is {shown(entry.get('format'))}, not {PATCH_FORMAT!r}")
        if base.sha256_new is None:
            raise ValueError(f"it records no SHA-256 of the patched {base.file}")
        size = entry.get("size")
        if type(size) is not int or size <= 0:
            raise ValueError(f"its size is {shown(size)}, not a number of bytes")
        raw = entry.get("writes")
        if type(raw) is not list or not 0 < len(raw) <= MAX_WRITES:
            raise ValueError(f"its writes are not a list of 1 to {MAX_WRITES:,} records")
        writes = []
        for w in raw:
            offset = w.get("offset") if isinstance(w, dict) else None
            old, new = (w.get("old"), w.get("new")) if isinstance(w, dict) else (None, None)
            if (type(offset) is not int or not isinstance(old, str) or not isinstance(new, str)
                    or not _HEX.match(old) or not _HEX.match(new) or len(old) != len(new)):
                raise ValueError(f"a write is {shown(w)}, not an offset with old and new bytes in hex")
            if offset < 0 or offset + len(old) // 2 > size:
                raise ValueError(f"a write at byte {offset:,} lies outside the file's {size:,} bytes")
            writes.append((offset, bytes.fromhex(old), bytes.fromhex(new)))
        ordered = sorted(writes)
        for (a, old, _new), (b, _old, _new2) in zip(ordered, ordered[1:]):
            if a + len(old) > b:
                raise ValueError(f"the writes at bytes {a:,} and {b:,} overlap")
        return replace(base, writes=tuple(writes), size=size)

    @classmethod
    def backup_files(cls, entry: BackupEntry) -> tuple[str, ...]:
        """The patch record ``<name>.patch.json`` (the optimizer itself is not copied)."""
        return (record_name(Path(entry.file)),)

    @classmethod
    def restore_backup(cls, entry: BackupEntry, checkpoint: Folder, backup: Folder, expect: FileId) -> None:
        """The old bytes back at each offset, in a copy put in place by ``os.replace`` (``durable.patch_copy``)."""
        assert entry.sha256 is not None and entry.size is not None
        patch_copy(checkpoint, entry.file, [(o, new, old) for o, old, new in entry.writes], entry.size, entry.sha256,
                   lambda: None, lambda: None, [], expect)

    def verify(self, journal: Journal) -> None:
        """ckptfix's reader gives the planned object; torch.load(weights_only=True), when torch is installed,
        the planned param groups."""
        try:
            with open_torch_file(self.path) as tf:
                ours = tf.obj
        except UnreadableFile as exc:
            raise RepairFailed(f"verification: ckptfix cannot read the new {self.path.name}: {exc}") from None
        if not same(ours, self.target):
            raise RepairFailed(f"verification: the new {self.path.name} decodes to other values than planned")
        if not torch_installed():
            return
        theirs = torch_load(self.path, mmap=True, map_location="cpu")
        try:
            if not _torch_like(theirs.get("param_groups") if isinstance(theirs, dict) else None, self.target["param_groups"]):
                raise RepairFailed(f"verification: torch.load(weights_only=True) of the new {self.path.name} gives other "
                                   "param_groups than planned")
        finally:
            del theirs

    def undo(self, journal: Journal) -> bool:
        """Put the file back (``restore``) if it may have been patched; True when it is the original."""
        if self.path not in journal.replaced:
            return True
        if journal.foreign(self.path):  # another process put its version there after ours: never overwrite it
            return False
        try:
            restore(journal.records[self.path], self.path, expect=journal.written.get(self.path, ANY))
            return sha256(self.path) == journal.records[self.path]["sha256"]
        except Exception:  # noqa: BLE001 - report "not restored", never mask the original failure
            return False


# --- planning (reads data.pkl only, writes nothing) ---------------------------------------------


def plan_patch(path: Path, sched_state: dict[str, Any]) -> OptimizerLrPatch | None:
    """The patch that makes ``path``'s param groups agree with ``sched_state``; None when they already do.

    ``NotPatchable`` (nothing to write) when the file is not laid out as torch writes it;
    ``UnreadableFile`` when it cannot be read safely."""
    with open_torch_file(path) as tf:
        if not _wanted(tf.obj, sched_state):
            return None  # whatever its format: nothing to change
    f = _open(path)
    try:
        zd = ZipDirectory(f)
        entry, prefix = data_pkl_entry(zd)
        if entry.method != 0 or entry.compressed_size != entry.size:
            raise NotPatchable(f"{entry.name} is compressed (torch stores it): not patched in place")
        data = zd.read(entry, DEFAULT_LIMITS.max_pickle_bytes, "pickle")
        obj = decode_data_pkl(path, data, zd, prefix)
        wanted = _wanted(obj, sched_state)
        if not wanted:
            return None
        groups: list[dict[str, Any]] = obj["param_groups"]
        try:
            sites = float_sites(data, KEYS)
        except ValueError as exc:
            raise NotPatchable(f"data.pkl cannot be walked opcode by opcode ({exc})") from None
        site_of = _check_sites(sites, groups, wanted, data)
        new_data = bytearray(data)
        data_off = zd.data_offset(entry)
        value_writes: list[Write] = []
        changes: list[Change] = []
        for (i, key), new in sorted(wanted.items(), key=lambda kv: (kv[0][0], KEYS.index(kv[0][1]))):
            site = site_of[(i, key)]
            assert site.offset is not None
            old_b, new_b = data[site.offset:site.offset + 8], struct.pack(">d", new)
            new_data[site.offset:site.offset + 8] = new_b
            value_writes.append(Write(data_off + site.offset, old_b, new_b, f"param_groups[{i}].{key}"))
            changes.append(Change(path, f"param_groups[{i}].{key}", groups[i][key], new, (FIXES[key],)))
        target = _substitute(obj, wanted)
        patched = bytes(new_data)
        try:
            check = decode_data_pkl(path, patched, zd, prefix)
        except UnreadableFile as exc:
            raise NotPatchable(f"the patched data.pkl does not decode ({exc.problem})") from None
        if not same(check, target):
            raise NotPatchable("the patched data.pkl does not decode to the original with only the new values")
        old_crc, new_crc = zlib.crc32(data), zlib.crc32(patched)
        if entry.crc != old_crc:
            raise NotPatchable(f"{entry.name}: the central directory's CRC-32 does not match the data")
        try:
            fields = zd.crc_fields(entry)
        except ZipLayoutError as exc:
            raise NotPatchable(str(exc)) from None
        old_b, new_b = struct.pack("<I", old_crc), struct.pack("<I", new_crc)
        crc_writes = tuple(Write(c.offset, old_b, new_b, f"CRC-32 of {entry.name} ({c.where})")
                           for c in fields if old_b != new_b)
        return OptimizerLrPatch(path, entry.name, f.size, tuple(value_writes) + crc_writes, old_crc, new_crc,
                                tuple(changes), data, target)
    finally:
        f.close()


def _check_sites(sites: list[FloatSite], groups: list[dict[str, Any]], wanted: dict[tuple[int, str], float],
                 data: bytes) -> dict[tuple[int, str], FloatSite]:
    """Pair each wanted (group, key) with its site; ``NotPatchable`` unless each is a float written once."""
    site_of: dict[tuple[int, str], FloatSite] = {}
    for key in sorted({k for _, k in wanted}, key=KEYS.index):
        found = [s for s in sites if s.key == key]
        holders = [i for i, g in enumerate(groups) if key in g]
        if len(found) != len(holders):
            raise NotPatchable(f"data.pkl holds {len(found)} {key!r} key(s) for {len(holders)} param group(s) "
                               f"with {key!r}: not the layout torch writes")
        for site, i in zip(found, holders):
            if site.problem is not None or site.offset is None:
                raise NotPatchable(f"param_groups[{i}].{key}: {site.problem}; ckptfix patches only a float "
                                   "written once, in place")
            old = groups[i][key]
            if type(old) is not float or data[site.offset:site.offset + 8] != struct.pack(">d", old):
                raise NotPatchable(f"the float after {key!r} key number {holders.index(i)} is not "
                                   f"param_groups[{i}].{key} = {old!r}: not the layout torch writes")
            site_of[(i, key)] = site
    return site_of


def _open(path: Path) -> ByteSource:
    f = LOCAL.open(path)
    try:
        head = f.read_at(0, min(4, f.size))
    except BaseException:
        f.close()
        raise
    if head != LOCAL_SIG:
        f.close()
        raise NotPatchable("not a zip-format torch file (the legacy format is not patched)")
    return f


def _wanted(obj: Any, sched: dict[str, Any]) -> dict[tuple[int, str], float]:
    """``{(group, key): new value}`` for every lr / initial_lr that differs from the scheduler's."""
    groups = obj.get("param_groups") if isinstance(obj, dict) else None
    if type(groups) is not list or not all(isinstance(g, dict) for g in groups):
        return {}  # not a torch optimizer state: the analysis pairs nothing with it either
    out: dict[tuple[int, str], float] = {}
    for key, src_key in (("lr", "_last_lr"), ("initial_lr", "base_lrs")):
        src = sched.get(src_key)
        if not isinstance(src, (list, tuple)) or not any(key in g for g in groups):
            continue
        for i, g in enumerate(groups):
            if key not in g:
                continue
            new = as_real(src[i]) if i < len(src) else None
            if new is None or not math.isfinite(new):
                continue
            if isinstance(g[key], (int, float)) and not isinstance(g[key], bool) and lr_matches(g[key], new):
                continue
            if len(src) != len(groups):
                raise NotPatchable(f"the scheduler's {src_key} has {len(src)} value(s) for {len(groups)} param group(s)")
            out[(i, key)] = float(new)
    return out


def _substitute(obj: dict[str, Any], wanted: dict[tuple[int, str], float]) -> dict[str, Any]:
    out = copy.copy(obj)
    groups = list(obj["param_groups"])
    for (i, key), new in wanted.items():
        g = copy.copy(groups[i])
        g[key] = new
        groups[i] = g
    out["param_groups"] = groups
    return out


def human_size(n: int) -> str:
    """``1.5 GB``: a file size for people."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} bytes"


# --- applying --------------------------------------------------------------------------------------


def _hashes(path: Path, writes: tuple[Write, ...]) -> tuple[str, str]:
    """SHA-256 of the file and of the file with ``writes`` applied, in one pass."""
    h_old, h_new = hashlib.sha256(), hashlib.sha256()
    pos = 0
    with read_regular(path) as fi:
        for chunk in iter(lambda: fi.read(1 << 20), b""):
            h_old.update(chunk)
            end = pos + len(chunk)
            hits = [w for w in writes if w.offset < end and w.offset + len(w.new) > pos]
            if hits:
                buf = bytearray(chunk)
                for w in hits:
                    for k, byte in enumerate(w.new):
                        if 0 <= w.offset + k - pos < len(buf):
                            buf[w.offset + k - pos] = byte
                chunk = bytes(buf)
            h_new.update(chunk)
            pos = end
    return h_old.hexdigest(), h_new.hexdigest()


def record_name(path: Path) -> str:
    return f"{path.name}.patch.json"


def _torch_like(a: Any, b: Any) -> bool:
    """torch.load's value ``a`` against ckptfix's decode ``b``: exact for plain values, shape for tensors."""
    import torch  # noqa: PLC0415 - see verify: only called after torch.load

    if isinstance(a, torch.Tensor):
        return isinstance(b, TensorRef) and tuple(a.shape) == tuple(b.shape)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_torch_like(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_torch_like(a[k], b[k]) for k in a)
    return same(a, b)


def restore(patch: dict[str, Any] | str | os.PathLike[str], path: Path | None = None, *, expect: object = ANY) -> bool:
    """Put an optimizer file patched by ``repair --optimizer-lr`` back to the original, bit for bit.

    ``patch`` is the ``<name>.patch.json`` in the backup folder (or its record); ``path`` defaults to
    the file of that name in the checkpoint holding ``.ckptfix/``. The record is validated as ``ckptfix
    restore`` validates a manifest entry; the old bytes go back by the same route (temp copy, fsync,
    ``os.replace``), never through a symlink. Returns False when the file already is the original;
    raises ``RepairFailed`` (touching nothing) when it is neither the original nor the patched file.
    """
    if isinstance(patch, dict):
        rec = patch
    else:
        rec_path = Path(patch)
        with read_regular(rec_path) as f:  # the guarded open: a FIFO named like the record never blocks
            try:
                rec = json.loads(f.read(_MAX_RECORD))
            except (ValueError, RecursionError) as exc:
                raise RepairFailed(f"{rec_path}: not a ckptfix optimizer patch record ({exc})") from None
    try:
        entry = read_entry(rec, (OptimizerLrPatch,))
    except ValueError as exc:
        raise RepairFailed(f"not a ckptfix optimizer patch record: {exc}") from None
    if path is None:
        if isinstance(patch, dict):
            raise RepairFailed("restore needs the optimizer file's path")
        path = Path(patch).resolve().parent.parent.parent / entry.file
    path = Path(path)
    with Folder.open(path.parent) as folder:
        now, ident = folder.sha256(path.name)
        if now == entry.sha256:
            return False
        if now != entry.sha256_new:
            raise RepairFailed(f"{path} is neither the original nor the patched file (SHA-256 {now}); not touched")
        check_identity(path, expect, "while ckptfix was restoring it", ident)
        OptimizerLrPatch.restore_backup(entry, folder, folder, ident)
    return True
