"""Read a zip archive's central directory and single entries, touching only the bytes needed.

torch.save writes an uncompressed zip (entries 64-byte aligned, zip64 past 4 GB). Reading the
central directory directly is faster than ``zipfile`` on archives with thousands of entries, and
lets us count every byte we read: the gate must not grow with the size of the tensors.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

from ckptfix.errors import ResourceLimit, UnreadableFile
from ckptfix.formats.limits import DEFAULT_LIMITS, Limits
from ckptfix.formats.source import ByteSource
from ckptfix.records import Record

__all__ = ["CENTRAL_SIG", "DESCRIPTOR_SIG", "LOCAL_SIG", "CrcField", "ZipDirectory", "ZipEntry", "ZipLayoutError",
           "entry_span", "zip64_extra", "zip64_fields"]

# The zip format's record signatures: the one place ckptfix spells them.
LOCAL_SIG = b"PK\x03\x04"
CENTRAL_SIG = b"PK\x01\x02"
DESCRIPTOR_SIG = b"PK\x07\x08"
_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
_MAX_COMMENT = 0xFFFF
# central-directory record: signature, flags, method, crc, compressed size, size, name/extra/comment lengths,
# local header offset (version, times, disk, attributes skipped)
_SMALL_ENTRY = 512  # entries read together with their local header (0-d step storages: 4-8 bytes)
_HEADER_SLACK = 4 + 20 + 64  # torch's "FB" padding field (< 64 bytes + its 4-byte header), a zip64 extra
_CENTRAL_RECORD = struct.Struct("<4s4xHH4xIIIHHH8xI")  # with its signature


class ZipLayoutError(ValueError):
    """A zip record is not where, or not what, the format (as torch writes it) puts there."""


class CrcField(Record):
    """Where one copy of an entry's CRC-32 lies in the file (the zip format keeps up to three)."""

    offset: int
    where: str  # "central directory" | "local header" | "data descriptor"


class ZipEntry(Record, frozen=False):  # one per zip entry, thousands per optimizer: see objects.StorageRef
    """One central-directory record: where an entry's bytes are and how to check them."""

    __slots__ = ("name", "method", "crc", "compressed_size", "size", "header_offset", "central_offset", "flags")
    name: str
    method: int  # 0 stored, 8 deflated
    crc: int
    compressed_size: int
    size: int
    header_offset: int
    central_offset: int  # offset of this entry's central-directory record in the file (-1: not known)
    flags: int  # general-purpose bit flags (bit 3: CRC and sizes in a data descriptor after the data)

    def __init__(self, name: str, method: int, crc: int, compressed_size: int, size: int, header_offset: int,
                 central_offset: int = -1, flags: int = 0) -> None:
        self.name = name
        self.method = method
        self.crc = crc
        self.compressed_size = compressed_size
        self.size = size
        self.header_offset = header_offset
        self.central_offset = central_offset
        self.flags = flags


def entry_span(e: ZipEntry, file_size: int) -> tuple[int, int]:
    """``(start, end)``: the bytes reading entry ``e`` whole touches, as torch lays it out: its local
    header, name, padding (at most ``_HEADER_SLACK``) and data. What a remote source fetches ahead."""
    name = e.name
    end = e.header_offset + 30 + (len(name) if name.isascii() else len(name.encode())) + _HEADER_SLACK + e.compressed_size
    return e.header_offset, min(end, file_size)


class ZipDirectory:
    """The entries of one zip file, by name."""

    def __init__(self, f: ByteSource, limits: Limits = DEFAULT_LIMITS):
        self.f = f
        self.limits = limits
        self.entries: dict[str, ZipEntry] = {}
        self.cd_offset = 0
        self._read_directory()

    # -- central directory -------------------------------------------------------------------
    def _read_directory(self) -> None:
        f, path = self.f, self.f.path
        if f.size < 22:
            raise UnreadableFile(path, f"truncated: {f.size} bytes is too short for a zip archive")
        tail_len = 22  # torch writes no archive comment: try the last 22 bytes before searching 64 KB
        tail = f.read_at(f.size - 22, 22)
        if tail[:4] != _EOCD:
            tail_len = min(f.size, 22 + _MAX_COMMENT)
            tail = f.read_at(f.size - tail_len, tail_len)
        pos = tail.rfind(_EOCD)
        if pos < 0 or len(tail) - pos < 22:
            raise UnreadableFile(path, "not a complete zip archive (no end-of-central-directory record): truncated or not a torch file")
        (_, disk, cd_disk, n_here, n_total, cd_size, cd_offset, _clen) = struct.unpack_from("<4sHHHHIIH", tail, pos)
        eocd_at = f.size - tail_len + pos
        if disk != 0 or cd_disk != 0 or n_here != n_total:
            raise UnreadableFile(path, "multi-disk zip archives are not torch files")
        if 0xFFFF in (n_total,) or 0xFFFFFFFF in (cd_size, cd_offset):
            n_total, cd_size, cd_offset = self._read_zip64(eocd_at)
        if n_total > self.limits.max_zip_entries:
            raise ResourceLimit(path, f"zip declares {n_total:,} entries; the limit is {self.limits.max_zip_entries:,}")
        if cd_size > self.limits.max_central_directory_bytes:
            raise ResourceLimit(path, f"zip central directory is {cd_size:,} bytes; the limit is {self.limits.max_central_directory_bytes:,}")
        if cd_offset + cd_size > eocd_at:
            raise UnreadableFile(path, "zip central directory lies beyond the end of the file: truncated or corrupt")
        if n_total * 46 > cd_size:
            raise UnreadableFile(path, "zip central directory is smaller than its declared entry count: corrupt")
        self.cd_offset = cd_offset
        self._parse_central(f.read_at(cd_offset, cd_size), n_total)

    def _read_zip64(self, eocd_at: int) -> tuple[int, int, int]:
        f = self.f
        if eocd_at < 20:
            raise UnreadableFile(f.path, "zip64 locator missing: corrupt")
        loc = f.read_at(eocd_at - 20, 20)
        if loc[:4] != _EOCD64_LOCATOR:
            raise UnreadableFile(f.path, "zip64 locator missing: corrupt")
        (rec_offset,) = struct.unpack_from("<Q", loc, 8)
        rec = f.read_at(rec_offset, 56)
        if rec[:4] != _EOCD64:
            raise UnreadableFile(f.path, "zip64 end-of-central-directory record missing: corrupt")
        n_here, n_total, cd_size, cd_offset = struct.unpack_from("<QQQQ", rec, 24)
        if n_here != n_total:
            raise UnreadableFile(f.path, "multi-disk zip archives are not torch files")
        return n_total, cd_size, cd_offset

    def _parse_central(self, cd: bytes, n: int) -> None:
        """One pass over the records (layout checks per record), then the names checked in bulk:
        an optimizer has one record per storage, thousands for a LoRA."""
        path = self.f.path
        unpack = _CENTRAL_RECORD.unpack_from
        cd_offset = self.cd_offset
        end = len(cd)
        raw_names: list[bytes] = []
        records: list[tuple[int, int, int, int, int, int, int]] = []
        pos = 0
        for _ in range(n):
            try:
                (sig, flags, method, crc, csize, usize, nlen, xlen, clen, hoff) = unpack(cd, pos)
            except struct.error:
                sig = None
            if sig != CENTRAL_SIG:
                raise UnreadableFile(path, f"zip central directory record {len(records)} is damaged")
            name_at = pos + 46
            name_end = name_at + nlen
            nxt = name_end + xlen + clen
            if nxt > end:
                raise UnreadableFile(path, "zip central directory is truncated")
            if hoff == 0xFFFFFFFF or csize == 0xFFFFFFFF or usize == 0xFFFFFFFF:
                usize, csize, hoff = zip64_extra(cd[name_end:name_end + xlen], usize, csize, hoff, path)
            if hoff + 30 + csize > cd_offset:
                name = cd[name_at:name_end].decode("utf-8", "replace")
                raise UnreadableFile(path, f"zip entry {name!r} extends past the central directory: truncated or corrupt")
            raw_names.append(cd[name_at:name_end])
            records.append((method, crc, csize, usize, hoff, cd_offset + pos, flags))
            pos = nxt
        try:
            joined = str(b"\x00".join(raw_names), "utf-8")
        except UnicodeDecodeError:
            raise UnreadableFile(path, "zip entry name is not UTF-8: not a torch file") from None
        names = joined.split("\x00")
        if len(names) != len(raw_names) or "\\" in joined or ".." in joined or joined.startswith("/") or "\x00/" in joined:
            for raw in raw_names:  # someone's name is suspect: find it, with the per-name rule
                name = raw.decode("utf-8")
                if name.startswith("/") or "\\" in name or "\x00" in name or ".." in name.split("/"):
                    raise UnreadableFile(path, f"zip entry name {name!r} is absolute or climbs out of the archive: not written by torch")
        entries = self.entries
        for name, rec in zip(names, records):
            entries[name] = ZipEntry(name, *rec)
        if len(entries) != len(names):
            seen: set[str] = set()
            dup = next(x for x in names if x in seen or seen.add(x))  # type: ignore[func-returns-value]
            raise UnreadableFile(path, f"zip has two entries named {dup!r}: ambiguous, not written by torch")

    # -- entries -----------------------------------------------------------------------------
    def _read_small(self, e: ZipEntry) -> bytes:
        """A small stored entry read with its local header in one request: torch pads the header's
        extra field so data starts 64-byte aligned, so header + name + at most ~90 bytes + data."""
        f = self.f
        want = entry_span(e, f.size)[1] - e.header_offset
        buf = f.read_at(e.header_offset, want)
        if len(buf) < 30 or not buf.startswith(LOCAL_SIG):
            raise UnreadableFile(f.path, f"zip entry {e.name!r}: local header damaged")
        nlen, xlen = struct.unpack_from("<HH", buf, 26)
        start = 30 + nlen + xlen
        if start + e.size <= len(buf):
            return buf[start:start + e.size]
        return f.read_at(e.header_offset + start, e.size)  # a longer extra field than torch writes

    def data_offset(self, e: ZipEntry) -> int:
        hdr = self.f.read_at(e.header_offset, 30)
        if hdr[:4] != LOCAL_SIG:
            raise UnreadableFile(self.f.path, f"zip entry {e.name!r}: local header damaged")
        nlen, xlen = struct.unpack_from("<HH", hdr, 26)
        return e.header_offset + 30 + nlen + xlen

    def crc_fields(self, e: ZipEntry) -> tuple[CrcField, ...]:
        """Every place the file keeps ``e``'s CRC-32: its central-directory record, and its local header
        or (flag bit 3, as torch's writer sets it, leaving 0 in the header) the data descriptor after
        the data. ``ZipLayoutError`` when a copy is not where the format puts it."""
        f = self.f
        crc = struct.pack("<I", e.crc)
        if e.central_offset < 0:
            raise ZipLayoutError(f"{e.name}: its central directory record is not known")
        rec = f.read_at(e.central_offset, 20)
        if rec[:4] != CENTRAL_SIG or rec[16:20] != crc:
            raise ZipLayoutError(f"{e.name}: central directory record not where the directory says")
        out = [CrcField(e.central_offset + 16, "central directory")]
        hdr = f.read_at(e.header_offset, 30)
        if hdr[:4] != LOCAL_SIG:
            raise ZipLayoutError(f"{e.name}: local header damaged")
        (flags,) = struct.unpack_from("<H", hdr, 6)
        if hdr[14:18] == crc:
            out.append(CrcField(e.header_offset + 14, "local header"))
        elif not (flags & 8 and hdr[14:18] == b"\0\0\0\0"):
            raise ZipLayoutError(f"{e.name}: the local header's CRC-32 is neither the data's nor deferred to a data descriptor")
        if flags & 8:
            at = self.data_offset(e) + e.compressed_size
            if f.read_at(at, 4) == DESCRIPTOR_SIG:
                at += 4
            if f.read_at(at, 4) != crc:
                raise ZipLayoutError(f"{e.name}: no data descriptor with its CRC-32 after the data")
            out.append(CrcField(at, "data descriptor"))
        return tuple(out)

    def read(self, e: ZipEntry, max_size: int, what: str = "entry", start: int = 0, length: int | None = None) -> bytes:
        """Read an entry (or ``length`` bytes of it from ``start``), checking size limits and CRC."""
        path = self.f.path
        if e.size > max_size and length is None:
            raise ResourceLimit(path, f"{what} {e.name!r} is {e.size:,} bytes; the limit is {max_size:,}")
        if e.method == 0 and length is None and e.size <= _SMALL_ENTRY and e.compressed_size == e.size:
            data = self._read_small(e)  # a step counter: header and bytes in one read
            if zlib.crc32(data) != e.crc:
                raise UnreadableFile(path, f"zip entry {e.name!r}: CRC mismatch (corrupt)")
            return data
        off = self.data_offset(e)
        if e.method == 0:
            if e.compressed_size != e.size:
                raise UnreadableFile(path, f"zip entry {e.name!r}: stored entry with inconsistent sizes")
            if length is not None:
                if start + length > e.size:
                    raise UnreadableFile(path, f"{what} {e.name!r} is shorter ({e.size} bytes) than its pickle declares")
                return self.f.read_at(off + start, length)
            data = self.f.read_at(off, e.size)
        elif e.method == 8:
            if e.compressed_size > max_size:
                raise ResourceLimit(path, f"{what} {e.name!r} is {e.compressed_size:,} compressed bytes; the limit is {max_size:,}")
            raw = self.f.read_at(off, e.compressed_size)
            d = zlib.decompressobj(-15)
            try:
                data = d.decompress(raw, max_size + 1)
            except zlib.error as exc:
                raise UnreadableFile(path, f"zip entry {e.name!r}: bad deflate data ({exc})") from None
            if len(data) > max_size:
                raise ResourceLimit(path, f"{what} {e.name!r} inflates past {max_size:,} bytes (a zip bomb?)")
            if len(data) != e.size:
                raise UnreadableFile(path, f"zip entry {e.name!r}: inflated size {len(data)} != declared {e.size}")
            if length is not None:
                data = data[start:start + length]
                if len(data) != length:
                    raise UnreadableFile(path, f"{what} {e.name!r} is shorter than its pickle declares")
                return data
        else:
            raise UnreadableFile(path, f"zip entry {e.name!r}: compression method {e.method} is not used by torch")
        if zlib.crc32(data) != e.crc:
            raise UnreadableFile(path, f"zip entry {e.name!r}: CRC mismatch (corrupt)")
        return data


_ZIP64_OFFSET_ONLY = struct.Struct("<HHQ")


def zip64_extra(extra: bytes, usize: int, csize: int, hoff: int, path: Any) -> tuple[int, int, int]:
    if usize != 0xFFFFFFFF and csize != 0xFFFFFFFF and len(extra) >= 12:
        # torch past 4 GB: small entries at large offsets, the zip64 field first, holding the offset only
        tag, ln, offset = _ZIP64_OFFSET_ONLY.unpack_from(extra)
        if tag == 0x0001 and 8 <= ln <= len(extra) - 4:
            return usize, csize, offset
    return zip64_fields(extra, usize, csize, hoff, path)


def zip64_fields(extra: bytes, usize: int, csize: int, hoff: int, path: Any) -> tuple[int, int, int]:
    """The general reading of the zip64 extra field: the escaped values, in order, from tag 0x0001."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, ln = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4: pos + 4 + ln]
        pos += 4 + ln
        if tag != 0x0001:
            continue
        vals = [v[0] for v in struct.iter_unpack("<Q", body[: len(body) // 8 * 8])]
        it = iter(vals)
        try:
            if usize == 0xFFFFFFFF:
                usize = next(it)
            if csize == 0xFFFFFFFF:
                csize = next(it)
            if hoff == 0xFFFFFFFF:
                hoff = next(it)
        except StopIteration:
            raise UnreadableFile(path, "zip64 extra field is short: corrupt") from None
        return usize, csize, hoff
    raise UnreadableFile(path, "zip64 sizes announced but no zip64 extra field: corrupt")
