"""The zip reader: central directory, entry names, small entries, zip64 extras, CRC locations."""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ckptfix.errors import UnreadableFile
from ckptfix.formats.source import LOCAL
from ckptfix.formats.torchfile import data_pkl_entry, open_torch_file
from ckptfix.formats.zipdir import ZipDirectory, ZipLayoutError, zip64_extra, zip64_fields
from tests.helpers import FIXTURES, adamw_state


def test_small_entries_behind_a_long_extra_field(tmp_path: Path) -> None:
    """A step counter is read with its local header in one request sized for torch's padding; an
    archive rewritten by another zip tool with a longer extra field still reads right (second read)."""
    f = tmp_path / "optimizer.bin"
    torch.save(adamw_state([(3,), (2, 2)], steps=5), f)
    with zipfile.ZipFile(f) as z:
        entries = [(i, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(f, "w") as z:
        for info, data in entries:
            info.extra = struct.pack("<HH", 0xCAFE, 300) + b"\x00" * 300  # an unknown 304-byte extra field
            z.writestr(info, data)
    with open_torch_file(f) as tf:
        assert [tf.read_scalar(s["step"]) for s in tf.obj["state"].values()] == [5.0, 5.0]
    # a flipped byte in a small entry is caught by its CRC on this path too
    raw = bytearray(f.read_bytes())
    with zipfile.ZipFile(f) as z:
        info = next(i for i in z.infolist() if i.filename.endswith("/data/0"))
    at = info.header_offset + 30 + len(info.filename.encode()) + 304
    raw[at] ^= 0xFF
    f.write_bytes(bytes(raw))
    with open_torch_file(f) as tf, pytest.raises(UnreadableFile, match="CRC"):
        tf.read_scalar(tf.obj["state"][0]["step"])


@pytest.mark.parametrize("new, words", [
    (b"ver..on", None),  # ".." inside a name component is a plain name
    (b"ver\xff\xfeon", "not UTF-8"),
    (b"ver\x00\x00on", "climbs out"),
    (b"../../x", "climbs out"),
])
def test_zip_entry_names_checked(tmp_path: Path, new: bytes, words: str | None) -> None:
    """Entry names are checked in bulk; each refusal still names the problem (same-length renames of
    ``<prefix>/version`` in both its local header and its central-directory record)."""
    f = tmp_path / "optimizer.bin"
    torch.save(adamw_state([(2,)], steps=2), f)
    raw = f.read_bytes()
    old = b"optimizer/version"
    assert raw.count(old) == 2 and len(new) == len(b"version")
    f.write_bytes(raw.replace(old, b"optimizer/" + new))
    if words is None:
        with open_torch_file(f) as tf:
            assert tf.read_scalar(tf.obj["state"][0]["step"]) == 2.0
    else:
        with pytest.raises(UnreadableFile, match=words) as exc:
            open_torch_file(f)
        assert str(f) in str(exc.value)



@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    st.lists(st.tuples(st.sampled_from([0x0001, 0x0001, 0x7075, 0xCAFE]), st.binary(max_size=28)), max_size=3),
    st.sampled_from([(5, 5), (0xFFFFFFFF, 5), (5, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF)]),
)
def test_zip64_extra_shortcut_reads_what_the_general_parser_reads(fields, sizes) -> None:
    """Past 4 GB torch escapes only the local-header offset: the one-struct shortcut for that case
    must agree with the general reading of the extra field, or defer to it (errors included)."""
    extra = b"".join(struct.pack("<HH", tag, len(body)) + body for tag, body in fields)
    usize, csize = sizes

    def outcome(fn):
        try:
            return fn(extra, usize, csize, 0xFFFFFFFF, Path("x"))
        except UnreadableFile as exc:
            return str(exc)

    assert outcome(zip64_extra) == outcome(zip64_fields)


def test_zip64_extra_offset_only() -> None:
    extra = struct.pack("<HHQ", 1, 8, 5 * 2**32 + 7)
    assert zip64_extra(extra, 4, 4, 0xFFFFFFFF, Path("x")) == (4, 4, 5 * 2**32 + 7)


def test_crc_fields_are_every_copy_of_the_crc(tmp_path: Path) -> None:
    """torch's writer defers the CRC to a data descriptor (flag bit 3, 0 in the local header): the
    CRC-32 lives in the central directory and after the data. Rewriting the entry's bytes and every
    field ``crc_fields`` names gives an archive that zipfile, ckptfix and torch all accept."""
    f = tmp_path / "scheduler.bin"
    f.write_bytes((FIXTURES / "sine-ok" / "checkpoint-30" / "scheduler.bin").read_bytes())
    with LOCAL.open(f) as src:
        zd = ZipDirectory(src)
        entry, _prefix = data_pkl_entry(zd)
        fields = zd.crc_fields(entry)
        data_at = zd.data_offset(entry)
    with zipfile.ZipFile(f) as z:
        info = z.getinfo(entry.name)
    assert info.flag_bits & 8, "torch writes a data descriptor"
    assert [c.where for c in fields] == ["central directory", "data descriptor"]
    raw = bytearray(f.read_bytes())
    old = struct.pack("<I", entry.crc)
    assert all(raw[c.offset:c.offset + 4] == old for c in fields)
    assert fields[1].offset >= data_at + entry.size  # after the data, not inside it
    # change one byte of data.pkl that is not an opcode: the last byte of the 'last_epoch' key string
    pkl = bytes(raw[data_at:data_at + entry.size])
    at = pkl.index(b"last_epoch") + len(b"last_epoc")
    raw[data_at + at] = ord("X")
    new = struct.pack("<I", zlib.crc32(bytes(raw[data_at:data_at + entry.size])))
    for c in fields:
        raw[c.offset:c.offset + 4] = new
    f.write_bytes(bytes(raw))
    with zipfile.ZipFile(f) as z:
        assert z.testzip() is None
    with open_torch_file(f) as tf:
        assert "last_epocX" in tf.obj
    assert "last_epocX" in torch.load(f, weights_only=True)


def test_crc_fields_refuse_a_layout_they_do_not_know(tmp_path: Path) -> None:
    f = tmp_path / "scheduler.bin"
    raw = bytearray((FIXTURES / "sine-ok" / "checkpoint-30" / "scheduler.bin").read_bytes())
    f.write_bytes(bytes(raw))
    with LOCAL.open(f) as src:
        zd = ZipDirectory(src)
        entry, _ = data_pkl_entry(zd)
        desc = zd.crc_fields(entry)[1].offset
    raw[desc:desc + 4] = b"\0\0\0\0"  # the data descriptor no longer holds the CRC
    f.write_bytes(bytes(raw))
    with LOCAL.open(f) as src, pytest.raises(ZipLayoutError, match="data descriptor"):
        ZipDirectory(src).crc_fields(entry)
