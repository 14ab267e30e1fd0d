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


SLOW = 2.0  # seconds per example (issue #12's bound): in a long run (CKPTFIX_FUZZ_FINDINGS set) a slow input is saved as a finding


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


# -- JSON and safetensors headers (issue #12): the readers and the whole gate --------------------------------
import json  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402

from ckptfix.formats.jsonfile import read_json  # noqa: E402
from ckptfix.formats.safetensors_header import read_safetensors_header  # noqa: E402

SIMPLETUNER = REAL / "simpletuner" / "checkpoint-30"
ST_BASES = {n: (SIMPLETUNER / n).read_bytes() for n in ("model.safetensors", "pytorch_lora_weights.safetensors")}
TS_BASE = (SIMPLETUNER / "training_state.json").read_bytes()

# JSON values as hostile files hold them: huge and over-long integers, NaN/Infinity, deep and wide containers.
# An integer over 4,300 digits cannot even be repr()'d: it is drawn as a marker string and written as digits.
HUGE = "\x00HUGE\x00"
_scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(10 ** 4000), max_value=10 ** 4000)
            | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12) | st.just(HUGE)
            | st.sampled_from([0, -1, 1 << 63, 1 << 64, (1 << 64) - 1, 2 ** 53 + 1, 1e308]))
json_values = st.recursive(_scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
                           max_leaves=12)


def _dumps(v) -> bytes:
    return json.dumps(v, allow_nan=True).replace(json.dumps(HUGE), "9" * 4400).encode()


@st.composite
def safetensors_files(draw) -> bytes:
    kind = draw(st.sampled_from(["bytes", "offsets", "entry", "header", "nesting"]))
    base = ST_BASES[draw(st.sampled_from(sorted(ST_BASES)))]
    if kind == "bytes":
        return draw(byte_mutation(base))
    n = struct_unpack_q(base[:8])
    header = json.loads(base[8:8 + n])
    body = base[8 + n:]
    names = [k for k in header if k != "__metadata__"]
    if kind == "offsets" and names:
        header[draw(st.sampled_from(names))]["data_offsets"] = draw(json_values)
    elif kind == "entry" and names:
        header[draw(st.sampled_from(names))] = draw(json_values)
    elif kind == "header":
        raw = _dumps(draw(json_values))
        return struct_pack_q(len(raw)) + raw + body
    else:
        depth = draw(st.integers(100, 50_000))
        raw = b"[" * depth + b"]" * depth
        return struct_pack_q(len(raw)) + raw + body
    raw = _dumps(header)
    return struct_pack_q(len(raw)) + raw + body


def struct_unpack_q(b: bytes) -> int:
    import struct

    return struct.unpack("<Q", b)[0]


def struct_pack_q(n: int) -> bytes:
    import struct

    return struct.pack("<Q", n)


@st.composite
def training_states(draw) -> bytes:
    kind = draw(st.sampled_from(["bytes", "values", "document"]))
    if kind == "bytes":
        return draw(byte_mutation(TS_BASE))
    if kind == "document":
        return _dumps(draw(json_values))
    state = json.loads(TS_BASE)
    for key in draw(st.lists(st.sampled_from(["global_step", "epoch_step", "epoch", "repeats", "extra"]), min_size=1, max_size=3)):
        state[key] = draw(json_values)
    return _dumps(state)


def _typed_or_value(fn, path: Path) -> None:
    try:
        fn()
    except UnreadableFile as exc:
        assert str(exc).startswith(str(path))


def _fuzz_reader(tmp_path_factory, name: str, data: bytes, read) -> None:
    """Write ``data`` as ``name``; ``read`` it: a value or a typed error naming the file, never anything
    else; failing and slow inputs are kept (``_save_finding``)."""
    p = tmp_path_factory.mktemp("fuzz") / name
    p.write_bytes(data)
    t0 = time.perf_counter()
    try:
        _typed_or_value(lambda: read(p), p)
    except BaseException:
        _save_finding(name, data)
        raise
    if time.perf_counter() - t0 > SLOW:
        _save_finding(f"slow-{name}", data)


@FUZZ
@given(safetensors_files())
def test_fuzz_safetensors_header(tmp_path_factory, data):
    _fuzz_reader(tmp_path_factory, "model.safetensors", data, read_safetensors_header)


@FUZZ
@given(training_states())
def test_fuzz_json(tmp_path_factory, data):
    _fuzz_reader(tmp_path_factory, "training_state.json", data, read_json)


# Three CLI runs per example (~50 ms on an idle machine): a third of the examples in CI, all in a long run.
GATE = settings(FUZZ, max_examples=EXAMPLES if _ENV else 100)


@GATE
@given(st.sampled_from(["training_state.json", "model.safetensors", "pytorch_lora_weights.safetensors"]), st.data())
def test_fuzz_gate_on_json_and_safetensors(tmp_path_factory, name, data):
    """The whole gate (inspect, human and --json; repair --dry-run) on a real checkpoint with one mutated JSON
    or safetensors file: a documented exit code (0, 1 or 3), never an internal error, a JSON document always."""
    from typer.testing import CliRunner

    from ckptfix._cli import app

    raw = data.draw(training_states() if name.endswith(".json") else safetensors_files())
    ck = tmp_path_factory.mktemp("gate") / "checkpoint-30"
    shutil.copytree(SIMPLETUNER, ck)
    (ck / name).write_bytes(raw)
    runner = CliRunner()
    t0 = time.perf_counter()
    try:
        human = runner.invoke(app, ["inspect", str(ck)])
        assert human.exit_code in (0, 1, 3), human.output
        assert "Traceback" not in human.output and "internal error" not in human.stderr
        res = runner.invoke(app, ["inspect", str(ck), "--json"])
        doc = json.loads(res.stdout)
        assert res.exit_code == doc["exit_code"] == human.exit_code
        res = runner.invoke(app, ["repair", str(ck), "--dry-run", "--json"])
        assert res.exit_code in (0, 1, 3) and json.loads(res.stdout)["exit_code"] == res.exit_code, res.output
    except BaseException:
        _save_finding(f"gate-{name}", raw)
        raise
    finally:
        import gc

        gc.enable()  # `inspect` turns the collector off for its short-lived process; this one runs on
    if time.perf_counter() - t0 > SLOW:
        _save_finding(f"slow-gate-{name}", raw)
    assert math.isfinite(time.perf_counter() - t0)
