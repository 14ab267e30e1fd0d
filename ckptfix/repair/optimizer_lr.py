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

Applying (``apply.py`` calls these under its lock, with its fault hook, in its backup folder):

``recheck``  the zip entry, ``data.pkl`` and the bytes to replace are still what the plan read.
``backup``   one pass over the file gives the SHA-256 of the original and of the patched file.
             ``<backup>/<name>.patch.json`` (and the manifest) record every write: offset, old and new
             bytes in hex, the CRCs and both hashes. The optimizer itself is **not** copied (it may be
             many GB): ``restore`` writes the old bytes back.
``write``    ``shutil.copyfile`` (``copy_file_range``/``sendfile``) to ``<stem>.ckptfix-tmp-<random>`` in
             the same folder; in the copy, check the old bytes and write the new ones; fsync; the copy's
             SHA-256 must be the planned one. The copy is the cost: a file of N GB needs N GB of free
             space and is read twice more for hashing.
``replace``  ``os.replace`` onto the real name, fsync the folder.
``verify``   ckptfix's reader decodes the new file to exactly the planned object, and
             ``torch.load(weights_only=True, mmap=True)["param_groups"]`` holds the new values.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import os
import pickletools
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ckptfix.coerce import as_real
from ckptfix.errors import UnreadableFile
from ckptfix.formats.allowlist import TORCH_STATE
from ckptfix.formats.limits import DEFAULT_LIMITS
from ckptfix.formats.objects import TensorRef
from ckptfix.formats.pickle_vm import decode_pickle
from ckptfix.formats.torchfile import _storage_from_pid, open_torch_file
from ckptfix.formats.zipdir import CountingFile, ZipDirectory, ZipEntry
from ckptfix.repair.apply import RepairFailed, _fsync_dir, _tmp_name, sha256
from ckptfix.repair.plan import SINE_FAMILY, Change, FilePlan, Refusal, RepairPlan, same
from ckptfix.schedulers.formulas import lr_matches

KEYS = ("lr", "initial_lr")
FIXES = {"lr": "CKF040", "initial_lr": "CKF041"}
PATCH_FORMAT = "ckptfix optimizer patch 1"
_STRING_OPS = frozenset({"BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "UNICODE"})
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_MEMO_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"})
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
_DESCRIPTOR = b"PK\x07\x08"


class NotPatchable(Exception):
    """The optimizer file is not laid out so that ckptfix can patch it safely (the message says why)."""


@dataclass(frozen=True)
class Write:
    offset: int  # in the file
    old: bytes
    new: bytes
    what: str  # "param_groups[0].lr", "CRC-32 of optimizer/data.pkl (central directory)", ...


@dataclass(frozen=True)
class OptimizerPatch:
    """The planned in-place patch of one optimizer file."""

    path: Path
    entry: str  # "optimizer/data.pkl"
    size: int  # the file's size, unchanged by the patch
    writes: tuple[Write, ...]
    old_crc: int
    new_crc: int
    changes: tuple[Change, ...]
    pickle: bytes = field(repr=False, compare=False, default=b"")  # the original data.pkl (recheck)
    target: Any = field(repr=False, compare=False, default=None)  # the decoded object after the patch


@dataclass(frozen=True)
class _Site:
    key: str
    offset: int | None  # offset in data.pkl of the value's 8 bytes, when it is a BINFLOAT
    problem: str | None  # why this value cannot be patched, None when it can


# --- planning (reads data.pkl only, writes nothing) ---------------------------------------------


def add_optimizer_lr(plan: RepairPlan) -> RepairPlan:
    """``plan`` with the optimizer patches ``--optimizer-lr`` needs, or refused (all or nothing)."""
    if plan.refusals:
        return plan
    ck = plan.report.checkpoint
    patches: list[OptimizerPatch] = []
    refusals: list[Refusal] = []
    notes = list(plan.notes)
    for index, state in enumerate(_scheduler_targets(plan)):
        if state is None or index >= len(ck.optimizers):
            continue
        opt_path = ck.optimizers[index].path
        try:
            p = plan_patch(opt_path, state)
        except NotPatchable as exc:
            refusals.append(Refusal(opt_path, f"--optimizer-lr: {opt_path.name}: {exc}. Run repair without "
                                    "--optimizer-lr to fix the scheduler only (the scheduler sets the right LR "
                                    "from the second step on)", 1))
            continue
        except UnreadableFile as exc:
            refusals.append(Refusal(opt_path, f"--optimizer-lr: {exc}", 3))
            continue
        if p is not None:
            patches.append(p)
            n = sum(1 for w in p.writes if w.what.startswith("param_groups"))
            notes.append(f"{opt_path.name}: --optimizer-lr replaces {n} 8-byte float(s) in {p.entry} and its CRC-32; "
                         f"tensors are never read. The whole file ({_human(p.size)}) is copied to a temporary file "
                         "in the same folder (needs that much free space) and read twice for SHA-256; the backup "
                         "records the patch, not a copy")
    if refusals:
        files = tuple(FilePlan(fp.path, "nothing", (), fp.original) for fp in plan.files)
        return dataclasses.replace(plan, files=files, refusals=plan.refusals + tuple(refusals), patches=())
    return dataclasses.replace(plan, patches=tuple(patches), notes=tuple(notes))


def _scheduler_targets(plan: RepairPlan) -> list[dict[str, Any] | None]:
    """Per scheduler index: the state the scheduler file holds after the repair (None: not a checked sine)."""
    report = plan.report
    by_path = {fp.path: fp for fp in plan.files}
    out: list[dict[str, Any] | None] = []
    for sr in report.schedulers:
        fp = by_path.pop(sr.file.path, None)
        if fp is not None and fp.action in ("rewrite", "create"):
            out.append(fp.target)
        elif sr.file.state is not None and sr.profile in SINE_FAMILY:
            out.append(sr.file.state)
        else:
            out.append(None)
    for fp in by_path.values():  # a created scheduler.bin (CKF001) pairs with optimizer.bin
        if fp.action == "create" and fp.path.name == "scheduler.bin" and not out:
            out.append(fp.target)
    return out


def plan_patch(path: Path, sched_state: dict[str, Any]) -> OptimizerPatch | None:
    """The patch that makes ``path``'s param groups agree with ``sched_state``; None when they already do."""
    with open_torch_file(path) as tf:
        if not _wanted(tf.obj, sched_state):
            return None  # whatever its format: nothing to change
    f = _open(path)
    try:
        zd = ZipDirectory(f)
        entry, prefix = _pickle_entry(zd)
        data = zd.read(entry, DEFAULT_LIMITS.max_pickle_bytes, "pickle")
        obj = _decode(path, data, zd, prefix)
        wanted = _wanted(obj, sched_state)
        if not wanted:
            return None
        groups: list[dict[str, Any]] = obj["param_groups"]
        sites = _sites(data)
        value_writes: list[Write] = []
        changes: list[Change] = []
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
        new_data = bytearray(data)
        site_of = {(i, key): s for key in KEYS for s, i in
                   zip([s for s in sites if s.key == key], [i for i, g in enumerate(groups) if key in g])}
        data_off = zd.data_offset(entry)
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
            check = _decode(path, patched, zd, prefix)
        except UnreadableFile as exc:
            raise NotPatchable(f"the patched data.pkl does not decode ({exc.problem})") from None
        if not same(check, target):
            raise NotPatchable("the patched data.pkl does not decode to the original with only the new values")
        old_crc, new_crc = zlib.crc32(data), zlib.crc32(patched)
        crc_writes = _crc_writes(f, zd, entry, old_crc, new_crc)
        return OptimizerPatch(path, entry.name, f.size, tuple(value_writes) + crc_writes, old_crc, new_crc,
                              tuple(changes), data, target)
    finally:
        f.close()


def _open(path: Path) -> CountingFile:
    try:
        f = CountingFile(path)
    except (OSError, UnreadableFile) as exc:
        raise UnreadableFile(path, f"cannot open: {exc}") from None
    try:
        head = f.read_at(0, min(4, f.size))
    except BaseException:
        f.close()
        raise
    if head != _LOCAL:
        f.close()
        raise NotPatchable("not a zip-format torch file (the legacy format is not patched)")
    return f


def _pickle_entry(zd: ZipDirectory) -> tuple[ZipEntry, str]:
    pkl = [n for n in zd.entries if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pkl) != 1:
        raise NotPatchable(f"{len(pkl)} data.pkl entries in the archive")
    e = zd.entries[pkl[0]]
    if e.method != 0 or e.compressed_size != e.size:
        raise NotPatchable(f"{e.name} is compressed (torch stores it): not patched in place")
    return e, pkl[0][: -len("/data.pkl")]


def _decode(path: Path, data: bytes, zd: ZipDirectory, prefix: str) -> Any:
    res = decode_pickle(path, data, TORCH_STATE, lambda pid: _storage_from_pid(path, pid, zd.entries, prefix),
                        DEFAULT_LIMITS, what="data.pkl")
    if res.end != len(data):
        raise UnreadableFile(path, "data.pkl has bytes after the pickle's STOP: not written by torch")
    return res.value


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


def _sites(data: bytes) -> list[_Site]:
    """Every ``'lr'`` / ``'initial_lr'`` string the pickle pushes (literal or memo GET) and the value after it."""
    try:
        ops = [(op.name, arg, pos) for op, arg, pos in pickletools.genops(data)]
    except ValueError as exc:
        raise NotPatchable(f"data.pkl cannot be walked opcode by opcode ({exc})") from None
    memo: dict[Any, str | None] = {}
    top: str | None = None  # the key string the last opcode pushed, if any
    sites: list[_Site] = []
    for k, (name, arg, _pos) in enumerate(ops):
        if name in _MEMO_OPS:
            memo[len(memo) if name == "MEMOIZE" else arg] = top
            continue
        if name == "FRAME":
            continue
        if name in _STRING_OPS:
            top = arg if arg in KEYS else None
        elif name in _GET_OPS:
            top = memo.get(arg)
        else:
            top = None
        if top is not None:
            sites.append(_value_after(ops, k + 1, top))
    return sites


def _value_after(ops: list[tuple[str, Any, int]], j: int, key: str) -> _Site:
    while j < len(ops) and (ops[j][0] in _MEMO_OPS or ops[j][0] == "FRAME"):
        j += 1  # the key itself memoized
    if j >= len(ops):
        return _Site(key, None, "the pickle ends after the key")
    name, _arg, pos = ops[j]
    if name != "BINFLOAT":
        what = "a memo reference (a value shared with another place)" if name in _GET_OPS else f"{name}, not a float literal"
        return _Site(key, None, f"its value is {what}")
    n = j + 1
    while n < len(ops) and ops[n][0] == "FRAME":
        n += 1
    if n < len(ops) and ops[n][0] in _MEMO_OPS:
        return _Site(key, pos + 1, "its float is memoized, so other values may share it")
    return _Site(key, pos + 1, None)


def _substitute(obj: dict[str, Any], wanted: dict[tuple[int, str], float]) -> dict[str, Any]:
    out = copy.copy(obj)
    groups = list(obj["param_groups"])
    for (i, key), new in wanted.items():
        g = copy.copy(groups[i])
        g[key] = new
        groups[i] = g
    out["param_groups"] = groups
    return out


def _crc_writes(f: CountingFile, zd: ZipDirectory, e: ZipEntry, old: int, new: int) -> tuple[Write, ...]:
    old_b, new_b = struct.pack("<I", old), struct.pack("<I", new)
    if e.crc != old or e.central_offset < 0:
        raise NotPatchable(f"{e.name}: the central directory's CRC-32 does not match the data")
    rec = f.read_at(e.central_offset, 20)
    if rec[:4] != _CENTRAL or rec[16:20] != old_b:
        raise NotPatchable(f"{e.name}: central directory record not where the directory says")
    writes = [Write(e.central_offset + 16, old_b, new_b, f"CRC-32 of {e.name} (central directory)")]
    hdr = f.read_at(e.header_offset, 30)
    (flags,) = struct.unpack_from("<H", hdr, 6)
    local = hdr[14:18]
    if local == old_b:
        writes.append(Write(e.header_offset + 14, old_b, new_b, f"CRC-32 of {e.name} (local header)"))
    elif not (flags & 8 and local == b"\0\0\0\0"):
        raise NotPatchable(f"{e.name}: the local header's CRC-32 is neither the data's nor deferred to a data descriptor")
    if flags & 8:
        at = zd.data_offset(e) + e.compressed_size
        if f.read_at(at, 4) == _DESCRIPTOR:
            at += 4
        if f.read_at(at, 4) != old_b:
            raise NotPatchable(f"{e.name}: no data descriptor with its CRC-32 after the data")
        writes.append(Write(at, old_b, new_b, f"CRC-32 of {e.name} (data descriptor)"))
    return tuple(w for w in writes if w.old != w.new)


def _human(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} bytes"


# --- applying (called by apply.py under its lock) -----------------------------------------------


def recheck(p: OptimizerPatch) -> None:
    """The file still holds what the plan read: same size, same data.pkl, the old bytes at every offset."""
    f = _open(p.path)
    try:
        if f.size != p.size:
            raise RepairFailed(f"{p.path} changed since the plan was made (size); run repair again")
        zd = ZipDirectory(f)
        e = zd.entries.get(p.entry)
        if e is None or e.crc != p.old_crc or zd.read(e, DEFAULT_LIMITS.max_pickle_bytes, "pickle") != p.pickle:
            raise RepairFailed(f"{p.path} changed since the plan was made (data.pkl); run repair again")
        for w in p.writes:
            if f.read_at(w.offset, len(w.old)) != w.old:
                raise RepairFailed(f"{p.path} changed since the plan was made ({w.what}); run repair again")
    finally:
        f.close()


def _hashes(path: Path, writes: tuple[Write, ...]) -> tuple[str, str]:
    """SHA-256 of the file and of the file with ``writes`` applied, in one pass."""
    h_old, h_new = hashlib.sha256(), hashlib.sha256()
    pos = 0
    with open(path, "rb") as fi:
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


def backup(p: OptimizerPatch, backup_dir: Path) -> dict[str, Any]:
    """Write ``<backup>/<name>.patch.json`` (fsynced) and return the record (also for the manifest)."""
    sha_old, sha_new = _hashes(p.path, p.writes)
    rec_path = backup_dir / record_name(p.path)
    rel = f"{backup_dir.parent.name}/{backup_dir.name}/{rec_path.name}"
    rec: dict[str, Any] = {
        "format": PATCH_FORMAT,
        "file": p.path.name,
        "action": "patch",
        "entry": p.entry,
        "size": p.size,
        "sha256": sha_old,
        "sha256_new": sha_new,
        "crc_original": f"{p.old_crc:08x}",
        "crc_new": f"{p.new_crc:08x}",
        "writes": [{"offset": w.offset, "what": w.what, "old": w.old.hex(), "new": w.new.hex()} for w in p.writes],
        "changes": [{"key": c.key, "old": repr(c.old), "new": repr(c.new), "fixes": list(c.fixes)} for c in p.changes],
        "patch": rec_path.name,
        "restore": f"python -c \"from ckptfix.repair.optimizer_lr import restore; restore('{rel}')\"",
    }
    with open(rec_path, "x") as fo:
        fo.write(json.dumps(rec, indent=2) + "\n")
        fo.flush()
        os.fsync(fo.fileno())
    return rec


def patch_file(path: Path, writes: list[tuple[int, bytes, bytes]], size: int, want_sha: str,
               hook: Callable[[str, Path], None], on_replace: Callable[[], None], temps: list[Path]) -> None:
    """Copy ``path`` to a temp file beside it, replace ``old`` by ``new`` at each offset, check, ``os.replace``."""
    tmp = _tmp_name(path)
    temps.append(tmp)
    try:
        shutil.copyfile(path, tmp)
        shutil.copymode(path, tmp)
        with open(tmp, "r+b") as fo:
            if os.fstat(fo.fileno()).st_size != size:
                raise RepairFailed(f"{path}: the copy has another size than the original")
            for offset, old, new in writes:
                fo.seek(offset)
                if fo.read(len(old)) != old:
                    raise RepairFailed(f"{path}: byte {offset} does not hold what the patch expects")
                fo.seek(offset)
                fo.write(new)
            fo.flush()
            os.fsync(fo.fileno())
        if sha256(tmp) != want_sha:
            raise RepairFailed(f"{path}: the patched copy's SHA-256 is not the planned one")
        hook("replace", path)
        on_replace()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        temps.remove(tmp)
        raise
    temps.remove(tmp)
    _fsync_dir(path.parent)


def write(p: OptimizerPatch, rec: dict[str, Any], hook: Callable[[str, Path], None], on_replace: Callable[[], None],
          temps: list[Path]) -> None:
    patch_file(p.path, [(w.offset, w.old, w.new) for w in p.writes], p.size, rec["sha256_new"], hook, on_replace, temps)


def verify(p: OptimizerPatch) -> None:
    """ckptfix's reader gives the planned object; torch.load(weights_only=True) the planned param groups."""
    import torch

    try:
        with open_torch_file(p.path) as tf:
            ours = tf.obj
    except UnreadableFile as exc:
        raise RepairFailed(f"verification: ckptfix cannot read the new {p.path.name}: {exc}") from None
    if not same(ours, p.target):
        raise RepairFailed(f"verification: the new {p.path.name} decodes to other values than planned")
    theirs = torch.load(p.path, weights_only=True, mmap=True, map_location="cpu")
    try:
        if not _torch_like(theirs.get("param_groups") if isinstance(theirs, dict) else None, p.target["param_groups"]):
            raise RepairFailed(f"verification: torch.load(weights_only=True) of the new {p.path.name} gives other "
                               "param_groups than planned")
    finally:
        del theirs


def _torch_like(a: Any, b: Any) -> bool:
    """torch.load's value ``a`` against ckptfix's decode ``b``: exact for plain values, shape for tensors."""
    import torch

    if isinstance(a, torch.Tensor):
        return isinstance(b, TensorRef) and tuple(a.shape) == tuple(b.shape)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_torch_like(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_torch_like(a[k], b[k]) for k in a)
    return same(a, b)


def undo(done: list[tuple[OptimizerPatch, dict[str, Any]]]) -> bool:
    """After a failure: put every patched file back (``restore``); True when all are the originals again."""
    ok = True
    for p, rec in reversed(done):
        try:
            restore(rec, p.path)
        except Exception:
            ok = False
    return ok


def restore(patch: dict[str, Any] | str | os.PathLike[str], path: Path | None = None) -> bool:
    """Put an optimizer file patched by ``repair --optimizer-lr`` back to the original, bit for bit.

    ``patch`` is the ``<name>.patch.json`` in the backup folder (or its record); ``path`` defaults to
    the file of that name in the checkpoint holding ``.ckptfix/``. The old bytes go back by the same
    route (temp copy, fsync, ``os.replace``). Returns False when the file already is the original;
    raises ``RepairFailed`` (touching nothing) when it is neither the original nor the patched file.
    """
    if isinstance(patch, dict):
        rec = patch
    else:
        rec_path = Path(patch)
        rec = json.loads(rec_path.read_text())
        if path is None:
            path = rec_path.resolve().parent.parent.parent / rec["file"]
    if rec.get("format") != PATCH_FORMAT:
        raise RepairFailed("not a ckptfix optimizer patch record")
    if path is None:
        raise RepairFailed("restore needs the optimizer file's path")
    path = Path(path)
    now = sha256(path)
    if now == rec["sha256"]:
        return False
    if now != rec["sha256_new"]:
        raise RepairFailed(f"{path} is neither the original nor the patched file (SHA-256 {now}); not touched")
    writes = [(int(w["offset"]), bytes.fromhex(w["new"]), bytes.fromhex(w["old"])) for w in rec["writes"]]
    patch_file(path, writes, int(rec["size"]), rec["sha256"], lambda s, q: None, lambda: None, [])
    return True
