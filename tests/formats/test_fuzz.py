"""Fuzz the reader over mutated real files: the only outcomes are a value or an UnreadableFile.

Bounded for CI (whole file well under 30 s). For a longer run:

    CKPTFIX_FUZZ_EXAMPLES=20000 python -m pytest tests/test_fuzz.py -q -p no:randomly

CI runs derandomized (reproducible); a run with CKPTFIX_FUZZ_EXAMPLES set draws fresh inputs.
"""

from __future__ import annotations

import io
import os
import sys
import time
import zipfile
import zlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ckptfix.errors import UnreadableFile
from ckptfix.formats.allowlist import RNG_STATE, TORCH_STATE
from ckptfix.formats.objects import TensorRef
from ckptfix.formats.pickle_vm import run_pickle
from ckptfix.formats.scan import scan_file
from ckptfix.formats.torchfile import open_torch_file
from tests.helpers import CORPUS

REAL = CORPUS / "cases" / "real"
sys.path.insert(0, str(CORPUS))
from generate import zip_bytes  # noqa: E402

sys.path.remove(str(CORPUS))

_ENV = os.environ.get("CKPTFIX_FUZZ_EXAMPLES")
EXAMPLES = int(_ENV) if _ENV else 300
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=_ENV is None, database=None,
                suppress_health_check=list(HealthCheck))

BASES = {
    "optimizer.bin": ((REAL / "checkpoint-3" / "optimizer.bin").read_bytes(), TORCH_STATE, "optimizer"),
    "scheduler.bin": ((REAL / "checkpoint-3" / "scheduler.bin").read_bytes(), TORCH_STATE, "scheduler"),
    "random_states_0.pkl": ((REAL / "checkpoint-3" / "random_states_0.pkl").read_bytes(), RNG_STATE, "random-states"),
    "legacy_optimizer.bin": ((REAL / "legacy" / "optimizer.bin").read_bytes(), TORCH_STATE, "torch"),
    "legacy_scheduler.bin": ((REAL / "legacy" / "scheduler.bin").read_bytes(), TORCH_STATE, "torch"),
}
DCP_META = (REAL / "dcp" / ".metadata").read_bytes()


def _entries(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


ZIP_ENTRIES = {k: _entries(v[0]) for k, v in BASES.items() if v[0][:2] == b"PK"}


@st.composite
def byte_mutation(draw, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "overwrite", "dup"]))
        if not b:
            break
        pos = draw(st.integers(0, len(b) - 1))
        if kind == "flip":
            b[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del b[pos:]
        elif kind == "insert":
            b[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del b[pos:pos + draw(st.integers(1, 16))]
        elif kind == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=8))
            b[pos:pos + len(chunk)] = chunk
        else:
            n = draw(st.integers(1, 32))
            b[pos:pos] = b[pos:pos + n]
    return bytes(b)


@st.composite
def pickle_mutation(draw, pkl: bytes) -> bytes:
    """Mutate a pickle's opcodes and arguments (interesting bytes: opcodes, small ints, lengths)."""
    b = bytearray(pkl)
    for _ in range(draw(st.integers(1, 3))):
        if not b:
            break
        pos = draw(st.integers(0, len(b) - 1))
        kind = draw(st.sampled_from(["byte", "opcode", "insert_op", "delete", "swap"]))
        if kind == "byte":
            b[pos] = draw(st.integers(0, 255))
        elif kind == "opcode":
            b[pos] = draw(st.sampled_from(b"()tlde.0123456789abcdefghijklmnopqrsuvxyz}]NRQbos\x85\x86\x87\x88\x89"
                                          b"\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x82\x83\x84"))
        elif kind == "insert_op":
            b[pos:pos] = draw(st.sampled_from([b"2", b"0", b"(", b"t", b"a", b"s", b"u", b"e", b"h\x00", b"q\x00",
                                               b"\x94", b"R", b"b", b"\x85", b"\x86", b"]", b"}", b")", b"1",
                                               b"\x93", b"\x81", b"N", b"K\x01"]))
        elif kind == "delete":
            del b[pos:pos + draw(st.integers(1, 4))]
        else:
            q = draw(st.integers(0, len(b) - 1))
            b[pos], b[q] = b[q], b[pos]
    return bytes(b)


@st.composite
def zip_mutation(draw, entries: list[tuple[str, bytes]]) -> bytes:
    """Mutate data.pkl (CRC kept valid so the pickle is decoded), swap entry contents or names."""
    ents = list(entries)
    kind = draw(st.sampled_from(["pickle", "pickle", "pickle", "swap_data", "swap_names", "drop", "dup"]))
    i = draw(st.integers(0, len(ents) - 1))
    j = draw(st.integers(0, len(ents) - 1))
    if kind == "pickle":
        k = next(n for n, (name, _) in enumerate(ents) if name.endswith("/data.pkl"))
        ents[k] = (ents[k][0], draw(pickle_mutation(ents[k][1])))
    elif kind == "swap_data":
        ents[i], ents[j] = (ents[i][0], ents[j][1]), (ents[j][0], ents[i][1])
    elif kind == "swap_names":
        ents[i], ents[j] = (ents[j][0], ents[i][1]), (ents[i][0], ents[j][1])
    elif kind == "drop":
        del ents[i]
    else:
        ents.append(ents[i])
    if not ents:
        return b""
    return zip_bytes(ents, method=draw(st.sampled_from([0, 0, 8])))


def _check_reader(path: Path, allow) -> None:
    try:
        tf = open_torch_file(path, allow)
    except UnreadableFile as exc:
        assert str(exc).startswith(str(path))
        return
    with tf:
        stack = [tf.obj]
        seen = 0
        while stack and seen < 10_000:
            v = stack.pop()
            seen += 1
            if isinstance(v, dict):
                stack.extend(v.values())
            elif isinstance(v, (list, tuple, set, frozenset)):
                stack.extend(v)
            elif isinstance(v, TensorRef) and v.numel == 1:
                try:
                    tf.read_scalar(v)
                except UnreadableFile:
                    pass


def _check_scan(path: Path, kind: str) -> None:
    r = scan_file(path, kind)
    assert r.status in ("ok", "unsafe", "unreadable")
    assert r.message.startswith(f"{path}: ")


SLOW = 3.0  # seconds per example: in a long run (CKPTFIX_FUZZ_FINDINGS set) a slow input is saved as a finding


def _save_finding(name: str, data: bytes) -> None:
    out = os.environ.get("CKPTFIX_FUZZ_FINDINGS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        Path(out, f"{zlib.crc32(data):08x}-{name}").write_bytes(data)


def _run(tmp_path_factory, name: str, data: bytes, allow, kind: str) -> None:
    d = tmp_path_factory.mktemp("fuzz")
    p = d / name
    p.write_bytes(data)
    t0 = time.perf_counter()
    try:
        _check_reader(p, allow)
        _check_scan(p, kind)
    except BaseException:
        _save_finding(name, data)
        raise
    if time.perf_counter() - t0 > SLOW:  # never fails CI on timing; the long run reviews these files
        _save_finding(f"slow-{name}", data)


@FUZZ
@given(st.sampled_from(sorted(BASES)), st.data())
def test_fuzz_bytes(tmp_path_factory, base, data):
    raw, allow, kind = BASES[base]
    _run(tmp_path_factory, base, data.draw(byte_mutation(raw)), allow, kind)


@FUZZ
@given(st.sampled_from(sorted(ZIP_ENTRIES)), st.data())
def test_fuzz_zip_structure_and_pickle(tmp_path_factory, base, data):
    _, allow, kind = BASES[base]
    _run(tmp_path_factory, base, data.draw(zip_mutation(ZIP_ENTRIES[base])), allow, kind)


@FUZZ
@given(st.data())
def test_fuzz_dcp_metadata(tmp_path_factory, data):
    d = tmp_path_factory.mktemp("dcp")
    p = d / ".metadata"
    raw = data.draw(pickle_mutation(DCP_META))
    p.write_bytes(raw)
    t0 = time.perf_counter()
    try:
        _check_scan(p, "dcp-metadata")
    except BaseException:
        _save_finding(".metadata", raw)
        raise
    if time.perf_counter() - t0 > SLOW:
        _save_finding("slow-.metadata", raw)


@FUZZ
@given(st.sampled_from(sorted(ZIP_ENTRIES)), st.data())
def test_fuzz_run_pickle_never_raises(base, data):
    pkl = next(v for n, v in ZIP_ENTRIES[base] if n.endswith("/data.pkl"))
    mutated = data.draw(pickle_mutation(pkl))
    res = run_pickle(mutated, RNG_STATE, lambda pid: pid)
    assert res.error is None or isinstance(res.error, str)


def test_crc_helper_sanity():
    # the zip writer used by the fuzzer reproduces readable archives
    ents = ZIP_ENTRIES["scheduler.bin"]
    assert _entries(zip_bytes(ents)) == ents and zlib.crc32(b"") == 0
