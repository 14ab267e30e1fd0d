"""ckptfix.formats.torch_writer: torch.save's bytes for a plain state, without torch.

Each written file is checked three ways: byte for byte against ``torch.save`` (torch 2.13, serialization
id included), loaded back by ``torch.load(weights_only=True)`` and by ckptfix's own reader with a strict
equality (1, 1.0 and True differ; so do lists and tuples, dicts and OrderedDicts, key orders and -0.0).
``OrderedDict``, ``torch.Size`` and ``torch.device`` (the reader's ``TorchSize`` / ``TorchDevice``) keep
their type. Other values are refused with their path, and nothing of theirs runs.
"""

from __future__ import annotations

import collections
import enum
import io
import math
import os
import pickle
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.optim import lr_scheduler as L

from ckptfix.formats import torch_writer
from ckptfix.formats.limits import DEFAULT_LIMITS
from ckptfix.formats.objects import TorchDevice, TorchSize
from ckptfix.formats.torch_writer import MAX_DEPTH, MAX_INT_BYTES, archive_name_for, dumps
from ckptfix.formats.torchfile import open_torch_file
from ckptfix.repair.actions.torch_check import as_read
from ckptfix.schedulers import Sine

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
# Every scheduler file in fixtures/ that torch 2.13 wrote (zip) and torch.load(weights_only=True) reads:
# hostile/ (a hand-made pickle), truncated/ and legacy-format/ (torch's legacy writer) are not.
FIXTURE_FILES = sorted(
    p for p in FIXTURES.rglob("scheduler*.*")
    if p.suffix in (".bin", ".pt") and p.parts[-3] not in ("hostile", "truncated", "legacy-format")
)
# torch's MultiStepLR keeps its milestones in a collections.Counter: written byte for byte too (issue #21).
COUNTER_STATES = "resumes/accelerate/multisteplr/"
FIXTURE_PARAMS = FIXTURE_FILES
TORCH_RECORDS = ["data.pkl", ".format_version", ".storage_alignment", "byteorder", "version", ".data/serialization_id"]


# --- helpers -----------------------------------------------------------------------------------------

def assert_strict_equal(a: Any, b: Any, path: str = "state") -> None:
    """Equal values of the same exact types: 1 != 1.0 != True, [] != (), key order counts, floats by bits."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} {a!r:.60} vs {type(b).__name__} {b!r:.60}"
    if type(a) is TorchDevice:
        assert (a, a.args) == (b, b.args), f"{path}: {a!r} vs {b!r}"
    elif type(a) in (dict, collections.OrderedDict):
        assert [(type(k), k) for k in a] == [(type(k), k) for k in b], f"{path}: keys {list(a)!r:.200} vs {list(b)!r:.200}"
        for k in a:
            assert_strict_equal(a[k], b[k], f"{path}[{k!r}]")
    elif type(a) in (list, tuple, TorchSize):
        assert len(a) == len(b), f"{path}: length {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_strict_equal(x, y, f"{path}[{i}]")
    elif type(a) is float:
        assert struct.pack("<d", a) == struct.pack("<d", b), f"{path}: {a!r} vs {b!r}"
    else:
        assert a == b, f"{path}: {a!r:.80} vs {b!r:.80}"


def torch_save_bytes(obj: Any, path: Path) -> bytes:
    torch.save(obj, path)
    return path.read_bytes()


def torch_serialization_id(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        (name,) = [n for n in z.namelist() if n.endswith("/.data/serialization_id")]
        return z.read(name).decode("ascii")


def as_torch(obj: Any, seen: dict[int, Any] | None = None) -> Any:
    """``obj`` with the reader's ``TorchSize`` / ``TorchDevice`` made the real torch objects (shared parts kept
    shared): what torch.save is given for the same state."""
    seen = {} if seen is None else seen
    if id(obj) in seen:
        return seen[id(obj)]
    t = type(obj)
    if t is TorchSize:
        out: Any = torch.Size(obj)
    elif t is TorchDevice:
        out = torch.device(*obj.args)
    elif t in (dict, collections.OrderedDict):
        out = t((k, as_torch(v, seen)) for k, v in obj.items())
    elif t is list:
        out = [as_torch(x, seen) for x in obj]
    elif t is tuple:
        out = tuple(as_torch(x, seen) for x in obj)
    else:
        return obj
    seen[id(obj)] = out
    return out


def check_written(obj: Any, path: Path) -> None:
    """dumps == torch.save byte for byte; torch.load and ckptfix's reader give obj back, strictly."""
    expected = torch_save_bytes(as_torch(obj), path)
    got = dumps(obj, archive_name_for(path))
    assert got == expected, _first_difference(got, expected)
    path.write_bytes(got)
    assert_strict_equal(as_read(torch.load(io.BytesIO(got), weights_only=True)), obj)
    with open_torch_file(path) as tf:
        assert tf.format == "zip"
        assert_strict_equal(tf.obj, obj)


def _first_difference(a: bytes, b: bytes) -> str:
    i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"first difference at byte {i} (lengths {len(a)} vs {len(b)}): {a[i:i + 24]!r} vs {b[i:i + 24]!r}"


def _optimizer() -> torch.optim.Optimizer:
    p1, p2 = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(1))
    return torch.optim.SGD([{"params": [p1], "lr": 1e-4}, {"params": [p2], "lr": 3e-4}], lr=1e-4, momentum=0.9)


SCHEDULERS = {
    "Sine": lambda o: Sine(o, T_0=10, eta_min=1e-6),
    "Sine-T_mult-2": lambda o: Sine(o, T_0=4, T_mult=2, eta_min=1e-6, verbose=True),
    "StepLR": lambda o: L.StepLR(o, 7, gamma=0.5),
    "ExponentialLR": lambda o: L.ExponentialLR(o, 0.9),
    "CosineAnnealingLR": lambda o: L.CosineAnnealingLR(o, 20, eta_min=1e-6),
    "CosineAnnealingWarmRestarts": lambda o: L.CosineAnnealingWarmRestarts(o, 10, T_mult=2, eta_min=1e-6),
    "LambdaLR": lambda o: L.LambdaLR(o, lambda e: min(1.0, (e + 1) / 10)),
    "LinearLR": lambda o: L.LinearLR(o, 0.1, 1.0, 10),
    "PolynomialLR": lambda o: L.PolynomialLR(o, 30, 2.0),
    "OneCycleLR": lambda o: L.OneCycleLR(o, max_lr=[1e-3, 2e-3], total_steps=100),
    "CyclicLR": lambda o: L.CyclicLR(o, 1e-5, 1e-3, step_size_up=5),
    "SequentialLR": lambda o: L.SequentialLR(o, [L.LinearLR(o, 0.1, 1.0, 5), L.ExponentialLR(o, 0.9)], milestones=[5]),
    "ChainedScheduler": lambda o: L.ChainedScheduler([L.ConstantLR(o, 0.5, 5), L.ExponentialLR(o, 0.9)]),
    "ReduceLROnPlateau": lambda o: L.ReduceLROnPlateau(o, patience=2),
    "MultiStepLR": lambda o: L.MultiStepLR(o, [3, 5, 5, 11], gamma=0.5),  # milestones: a collections.Counter
}


def scheduler_state(name: str, steps: int = 13) -> dict[str, Any]:
    opt = _optimizer()
    sched = SCHEDULERS[name](opt)
    for _ in range(steps):
        opt.step()
        sched.step(1.0) if name == "ReduceLROnPlateau" else sched.step()
    return sched.state_dict()


# --- the helper itself must be strict, or every equality below proves nothing -------------------------

@pytest.mark.parametrize("a,b", [
    (1, 1.0), (1, True), (0, False), (1.0, True), ([1], (1,)), ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
    ({1: 0}, {"1": 0}), ({True: 0}, {1: 0}), (0.0, -0.0), ([[1]], [[1.0]]), ({"x": (1,)}, {"x": [1]}),
    ("a", "b"), (None, 0), ([1, 2], [1, 2, 3]),
])
def test_strict_equality_helper_tells_apart(a: Any, b: Any) -> None:
    with pytest.raises(AssertionError):
        assert_strict_equal(a, b)


def test_strict_equality_helper_accepts_equal_values() -> None:
    assert_strict_equal({"a": [1, 2.5, (None, True)], 3: float("nan")}, {"a": [1, 2.5, (None, True)], 3: float("nan")})


# --- (1)-(3): real scheduler states -------------------------------------------------------------------

@pytest.mark.parametrize("src", FIXTURE_PARAMS, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture_file_rewritten_byte_for_byte(src: Path, tmp_path: Path) -> None:
    """The committed files were written by accelerate/transformers through torch 2.13's torch.save."""
    state = torch.load(src, weights_only=True)
    original = src.read_bytes()
    got = dumps(state, archive_name_for(src))
    assert got == original, _first_difference(got, original)
    assert dumps(state, archive_name_for(src), serialization_id=torch_serialization_id(original)) == original
    check_written(state, tmp_path / src.name)


def test_fixtures_found() -> None:
    assert len(FIXTURE_FILES) >= 15, FIXTURE_FILES
    assert sum(COUNTER_STATES in p.relative_to(FIXTURES).as_posix() for p in FIXTURE_FILES) == 2  # Counter states


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_torch_scheduler_states(name: str, tmp_path: Path) -> None:
    check_written(scheduler_state(name), tmp_path / "scheduler.bin")


@pytest.mark.parametrize("steps", [0, 1, 5, 10, 37])
def test_sine_states_at_several_steps(steps: int, tmp_path: Path) -> None:
    check_written(scheduler_state("Sine", steps), tmp_path / "scheduler.bin")


def test_torch_serialization_id_passed_through(tmp_path: Path) -> None:
    state = scheduler_state("Sine")
    expected = torch_save_bytes(state, tmp_path / "scheduler.bin")
    assert dumps(state, "scheduler", serialization_id=torch_serialization_id(expected)) == expected


def test_other_serialization_id(tmp_path: Path) -> None:
    """Another id changes that record (and its CRC) only; the file stays a valid torch file."""
    state = scheduler_state("Sine")
    data = dumps(state, "scheduler", serialization_id="0" * 40)
    assert data != dumps(state, "scheduler")
    assert torch_serialization_id(data) == "0" * 40
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
    assert_strict_equal(torch.load(io.BytesIO(data), weights_only=True), state)
    short = dumps(state, "scheduler", serialization_id="x")
    assert torch_serialization_id(short) == "x"
    assert_strict_equal(torch.load(io.BytesIO(short), weights_only=True), state)


# --- the container: what torch's writer emits, checked field by field ---------------------------------

def _local_entries(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """Walk the local headers from byte 0 (sizes from zipfile: the headers hold zeros); return them and
    where the walk stopped (the central directory)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sizes = {i.filename: i.file_size for i in z.infolist()}
    entries, pos = [], 0
    while data[pos:pos + 4] == b"PK\x03\x04":
        _sig, need, flags, method, tm, dt, crc, csize, usize, nlen, xlen = struct.unpack_from("<IHHHHHIIIHH", data, pos)
        name = data[pos + 30:pos + 30 + nlen].decode()
        start = pos + 30 + nlen + xlen
        size = sizes[name]
        entries.append(dict(offset=pos, need=need, flags=flags, method=method, time=tm, date=dt, crc=crc,
                            csize=csize, usize=usize, name=name, extra=data[pos + 30 + nlen:start], start=start,
                            descriptor=struct.unpack_from("<IIII", data, start + size)))
        pos = start + size + 16
    return entries, pos


def test_container_layout() -> None:
    state = scheduler_state("Sine")
    data = dumps(state, "scheduler")
    entries, cd = _local_entries(data)
    assert [e["name"] for e in entries] == [f"scheduler/{r}" for r in TORCH_RECORDS]
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
        contents = {i.filename: z.read(i) for i in z.infolist()}
        infos = z.infolist()
    for e in entries:
        body = contents[e["name"]]
        assert (e["need"], e["flags"], e["method"], e["time"], e["date"]) == (0, 0x0808, 0, 0, 0)
        assert (e["crc"], e["csize"], e["usize"]) == (0, 0, 0)  # deferred to the data descriptor
        assert e["start"] % 64 == 0
        pad = len(e["extra"]) - 4
        assert e["extra"] == b"FB" + struct.pack("<H", pad) + b"Z" * pad and 0 <= pad < 64
        assert e["descriptor"] == (0x08074B50, zlib.crc32(body), len(body), len(body))
    assert contents["scheduler/.format_version"] == b"1"
    assert contents["scheduler/.storage_alignment"] == b"64"
    assert contents["scheduler/byteorder"] == sys.byteorder.encode()
    assert contents["scheduler/version"] == b"3\n"
    sid = contents["scheduler/.data/serialization_id"]
    assert len(sid) == 40 and sid.isdigit()
    for info, e in zip(infos, entries):
        assert (info.header_offset, info.extra, info.create_version, info.extract_version, info.external_attr) == (
            e["offset"], b"", 0, 0, 0)
    end64 = data.index(b"PK\x06\x06", cd)
    assert struct.unpack_from("<IQHHIIQQQQ", data, end64) == (
        0x06064B50, 44, 0x031E, 0x002D, 0, 0, 6, 6, end64 - cd, cd)
    assert struct.unpack_from("<IIQI", data, end64 + 56) == (0x07064B50, 0, end64, 1)
    assert data[end64 + 76:] == struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 6, 6, end64 - cd, cd, 0)


@pytest.mark.parametrize("n", range(64))
def test_every_padding_size(n: int, tmp_path: Path) -> None:
    """64 consecutive pickle lengths put each later record at every offset mod 64 (padding 0 included)."""
    state = {"lr": [1e-4], "note": "x" * n}
    check_written(state, tmp_path / "scheduler.bin")


def test_padding_zero_occurs() -> None:
    paddings = set()
    for n in range(64):
        entries, _ = _local_entries(dumps({"note": "x" * n}, "scheduler"))
        paddings.update(len(e["extra"]) - 4 for e in entries)
    assert paddings == set(range(64))


@pytest.mark.parametrize("name", ["scheduler.bin", "scheduler.ckptfix-tmp-1a2b3c4d", "optimizer_1.bin", "a.b.c",
                                  "noext", "trailing.", "sub/dir/model.pt", "sch\u00e9duler.bin", "x"])
def test_archive_name_for_matches_torch(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    expected = torch_save_bytes({"a": 1}, path)
    with zipfile.ZipFile(io.BytesIO(expected)) as z:
        prefix = z.namelist()[0].split("/")[0]
    assert archive_name_for(path) == prefix
    assert archive_name_for(str(path)) == prefix
    assert dumps({"a": 1}, prefix) == expected


def test_archive_name_torch_refuses(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="invalid file name"):
        torch.save({}, tmp_path / ".bin")
    with pytest.raises(ValueError, match="empty archive name"):
        archive_name_for(tmp_path / ".bin")


def test_buffer_archive_name() -> None:
    buf = io.BytesIO()
    torch.save({"a": [1, 2]}, buf)
    assert dumps({"a": [1, 2]}, "archive") == buf.getvalue()


# --- pickle opcodes: every one a plain state can need, against torch -----------------------------------

def _shared() -> dict[str, Any]:
    lst, s, t = [1e-4, 2e-4], "shared-string", (1, 2)
    return {"a": lst, "b": lst, "s1": s, "s2": s, "t": [t, t], "nested": {"again": lst}}


OPCODE_CASES = {
    "ints": [0, 1, 255, 256, 65535, 65536, -1, -256, 2**31 - 1, -2**31, 2**31, -2**31 - 1],
    "long1": [2**63, -2**63 - 1, 2**64, 10**40, -(10**40), 2**600, 2**2039 - 1, -(2**2039)],  # up to 255 bytes
    "floats": [0.0, -0.0, 1e-4, float("inf"), float("-inf"), float("nan"), 5e-324, 1.7976931348623157e308],
    "bool-none": [True, False, None, [True], (False,)],
    "tuples": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), ((),), (((1,),),)],
    "strings": ["", "ascii", "\u00e9\u00e8", "\u4e2d\u6587", "\U0001f600", "a\x00b", "\ud800", "x" * 300],
    "int-keys": {0: "a", -5: "b", 2**70: "c", "0": "d"},
    "empty": {"d": {}, "l": [], "t": ()},
    "memo-over-256": [f"s{i}" for i in range(300)] + [[i] for i in range(300)],
    "dict-1000": {f"k{i}": i for i in range(1000)},
    "dict-1001": {f"k{i}": i for i in range(1001)},
    "dict-2000": {i: float(i) for i in range(2000)},
    "list-1000": list(range(1000)),
    "list-1001": list(range(1001)),
    "list-2001": [float(i) for i in range(2001)],
    "shared": _shared(),
    "deep": None,  # filled below
    "single-item": {"only": [7]},
    "ordered-dict": collections.OrderedDict([("a", 1), ("o", collections.OrderedDict()), ("n", {"x": collections.OrderedDict(b=[2])})]),
    "ordered-dict-root": collections.OrderedDict(last_epoch=3, base_lrs=[1e-4]),
    "torch-size": {"s": TorchSize((2, 3)), "e": TorchSize(()), "one": TorchSize((1,)), "big": TorchSize((2**40, -1)),
                   "in": [TorchSize((4,)), (TorchSize((5, 6)),)]},
    "torch-device": [TorchDevice(("cpu",)), TorchDevice(("cuda", 1)), TorchDevice(("cuda",)), TorchDevice(("meta", 0))],
    "torch-shared": None,  # filled below
    "torch-global-text": {"x": "ckptfix.formats.torch_writer _SizeStandIn", "y": "c" + torch_writer.__name__ + "\n_SizeStandIn\n",
                          "s": TorchSize((7,))},
}
_size, _dev = TorchSize((3,)), TorchDevice(("cuda", 0))
OPCODE_CASES["torch-shared"] = {"a": _size, "b": _size, "c": [_dev, _dev, TorchSize((3,))], "od": collections.OrderedDict(s=_size)}
_deep: Any = 1
for _ in range(MAX_DEPTH):
    _deep = [_deep]
OPCODE_CASES["deep"] = {"x": _deep[0]}  # MAX_DEPTH containers, the root one included


@pytest.mark.parametrize("case", sorted(OPCODE_CASES))
def test_pickle_opcodes_match_torch(case: str, tmp_path: Path) -> None:
    check_written(OPCODE_CASES[case], tmp_path / "scheduler.bin")


def test_shared_references_kept() -> None:
    state = _shared()
    data = dumps(state, "scheduler")
    back = torch.load(io.BytesIO(data), weights_only=True)
    assert back["a"] is back["b"] and back["t"][0] is back["t"][1]


# --- (4) property: any plain state --------------------------------------------------------------------

_atoms = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**2039), 2**2039 - 1),  # LONG1 at most (MAX_INT_BYTES)
    st.integers(-(2**600), 2**600),
    st.sampled_from([255, 256, 65535, 65536, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**63, -(2**63) - 1]),
    st.floats(),
    st.floats(-1e-2, 1e-2),
    st.text(max_size=12),
    st.text(st.characters(codec="utf-8"), max_size=4),
)
_keys = st.one_of(st.text(max_size=10), st.integers(), st.integers(-3, 3))
_torch_values = st.one_of(
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=4).map(lambda x: TorchSize(tuple(x))),
    st.tuples(st.sampled_from(["cpu", "cuda", "mps", "meta"])).map(TorchDevice),
    st.tuples(st.sampled_from(["cuda", "xpu"]), st.integers(0, 127)).map(TorchDevice),  # torch keeps an int8 index
)
plain_states = st.recursive(
    st.one_of(_atoms, _torch_values),
    lambda inner: st.one_of(
        st.lists(inner, max_size=6),
        st.lists(inner, max_size=6).map(tuple),
        st.dictionaries(_keys, inner, max_size=6),
        st.dictionaries(_keys, inner, max_size=6).map(collections.OrderedDict),
        inner.map(lambda x: [x, x]),  # the same object twice: pickle's memo (BINGET)
    ),
    max_leaves=30,
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("writer") / "scheduler.bin"


@settings(max_examples=250, deadline=None)
@given(state=st.dictionaries(st.text(max_size=10), plain_states, max_size=8) | plain_states)
def test_any_plain_state_property(state: Any, scratch: Path) -> None:
    check_written(state, scratch)


# --- (5) refusals ---------------------------------------------------------------------------------------

class MyInt(int):
    pass


class Color(enum.IntEnum):
    RED = 1


class Spy:
    """Records any attempt to pickle or print it."""

    touched: list[str] = []

    def __reduce__(self):  # pragma: no cover - must never run
        Spy.touched.append("reduce")
        return (print, ("pickled",))

    def __repr__(self) -> str:  # pragma: no cover - must never run
        Spy.touched.append("repr")
        return "Spy()"


def _cycle_list() -> list[Any]:
    lst: list[Any] = [1]
    lst.append({"back": lst})
    return lst


def _cycle_dict() -> dict[str, Any]:
    d: dict[str, Any] = {"lr": [1e-4]}
    d["lr"].append(d)
    return d


def _too_deep() -> list[Any]:
    x: Any = []
    for _ in range(MAX_DEPTH):
        x = [x]
    return x  # MAX_DEPTH + 1 containers


REFUSALS = [
    ("tensor", {"base_lrs": [1e-4, torch.tensor(1e-4)]}, TypeError, r"state\['base_lrs'\]\[1\] is a torch\.Tensor"),
    ("parameter", {"p": torch.nn.Parameter(torch.zeros(1))}, TypeError, r"state\['p'\] is a torch\.nn\.parameter\.Parameter"),
    ("numpy-array", {"a": np.zeros(2)}, TypeError, r"state\['a'\] is a numpy\.ndarray"),
    ("numpy-float", {"lr": [np.float64(1e-4)]}, TypeError, r"state\['lr'\]\[0\] is a numpy\.float64 \(a subclass of float\)"),
    ("numpy-int", {"e": np.int64(3)}, TypeError, r"state\['e'\] is a numpy\.int64"),
    ("ordered-dict-subclass", type("OD", (collections.OrderedDict,), {})(a=1), TypeError, r"^state is a .*OD \(a subclass of dict\)"),
    ("real-torch-size", {"s": torch.Size([2])}, TypeError, r"state\['s'\] is a torch\.Size \(a subclass of tuple\)"),
    ("real-torch-device", {"d": torch.device("cpu")}, TypeError, r"state\['d'\] is a torch\.device"),
    ("size-of-floats", {"s": TorchSize((1.5,))}, TypeError, r"state\['s'\] is a .*TorchSize \(a subclass of tuple\) holding \(1\.5,\)"),
    ("device-of-a-list", {"d": TorchDevice(("cuda", [1]))}, TypeError, r"state\['d'\] is a .*TorchDevice"),
    ("size-long4", {"s": TorchSize((2**2039,))}, ValueError, r"state\['s'\]\[0\] is an int of 2,040 bits"),
    ("counter-subclass", {"m": type("C", (collections.Counter,), {})({3: 1})}, TypeError,
     r"state\['m'\] is a .*C \(a subclass of dict\)"),
    ("counter-float-key", {"m": collections.Counter({1.5: 1})}, TypeError, r"state\['m'\] has a key of type float"),
    ("set", {"s": {1, 2}}, TypeError, r"state\['s'\] is a set"),
    ("frozenset", {"s": frozenset()}, TypeError, r"state\['s'\] is a frozenset"),
    ("bytes", {"b": b"x"}, TypeError, r"state\['b'\] is a bytes"),
    ("bytearray", [bytearray(b"x")], TypeError, r"state\[0\] is a bytearray"),
    ("complex", (1j,), TypeError, r"state\[0\] is a complex"),
    ("object", {"o": object()}, TypeError, r"state\['o'\] is a object"),
    ("function", {"lr_lambdas": [lambda e: e]}, TypeError, r"state\['lr_lambdas'\]\[0\] is a function"),
    ("class", {"c": int}, TypeError, r"state\['c'\] is a type"),
    ("int-subclass", {"n": MyInt(3)}, TypeError, r"state\['n'\] is a .*MyInt \(a subclass of int\)"),
    ("int-enum", {"n": Color.RED}, TypeError, r"state\['n'\] is a .*Color \(a subclass of int\)"),
    ("str-subclass", {"s": type("S", (str,), {})("x")}, TypeError, r"state\['s'\] is a .*S \(a subclass of str\)"),
    ("list-subclass", {"l": type("Lst", (list,), {})()}, TypeError, r"^state\['l'\] is a .*Lst \(a subclass of list\)"),
    ("float-key", {"a": {1.5: 0}}, TypeError, r"state\['a'\] has a key of type float"),
    ("bool-key", {True: 0}, TypeError, r"^state has a key of type bool"),
    ("none-key", {None: 0}, TypeError, r"state has a key of type NoneType"),
    ("tuple-key", {(1, 2): 0}, TypeError, r"state has a key of type tuple"),
    ("int-subclass-key", {MyInt(1): 0}, TypeError, r"key of type .*MyInt \(a subclass of int\)"),
    ("deep-path", {"a": [{"b": ({"c": [0, 1, object()]},)}]}, TypeError, r"state\['a'\]\[0\]\['b'\]\[0\]\['c'\]\[2\] is"),
    ("int-key-path", {7: [None, object()]}, TypeError, r"state\[7\]\[1\] is a object"),
    ("cycle-list", _cycle_list(), ValueError, r"state\[1\]\['back'\] contains itself"),
    ("cycle-dict", _cycle_dict(), ValueError, r"state\['lr'\]\[1\] contains itself"),
    ("too-deep", _too_deep(), ValueError, rf"^state(\[0\]){{{MAX_DEPTH}}} is a container inside {MAX_DEPTH} others"),
    ("int-long4", {"n": [2**2039]}, ValueError, r"state\['n'\]\[0\] is an int of 2,040 bits: .*LONG4"),
    ("negative-int-long4", {"n": -(2**2039) - 1}, ValueError, r"state\['n'\] is an int of 2,040 bits"),
    ("huge-int", {"n": 7**3000}, ValueError, r"state\['n'\] is an int of 8,423 bits"),
    ("spy", {"x": [Spy()]}, TypeError, r"state\['x'\]\[0\] is a .*Spy"),
]


@pytest.mark.parametrize("obj,exc,pattern", [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_refuses_non_plain(obj: Any, exc: type[Exception], pattern: str) -> None:
    Spy.touched.clear()
    with pytest.raises(exc, match=pattern):
        dumps(obj, "scheduler")
    assert Spy.touched == []


def test_limits() -> None:
    assert MAX_DEPTH == DEFAULT_LIMITS.max_nesting
    assert MAX_INT_BYTES == 255 <= DEFAULT_LIMITS.max_long_bytes
    assert len(pickle.encode_long(2**2039 - 1)) == len(pickle.encode_long(-(2**2039))) == MAX_INT_BYTES


def test_one_past_the_limits_is_unreadable(tmp_path: Path) -> None:
    """What dumps refuses for size is exactly what a reader refuses in torch.save's own output."""
    from ckptfix.errors import ResourceLimit

    path = tmp_path / "scheduler.bin"
    torch.save(_too_deep(), path)
    with pytest.raises(ResourceLimit, match="nested deeper than 64"):
        open_torch_file(path)
    for n in (2**2039, -(2**2039) - 1):
        torch.save({"n": n}, path)
        with pytest.raises(pickle.UnpicklingError, match="Unsupported operand 139"):
            torch.load(path, weights_only=True)


def test_shared_structure_checked_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A DAG with 2**40 paths (each level holds the one below twice): every container is checked once,
    and pickle writes it once (memo), like torch.save."""
    calls = 0
    real = torch_writer._check

    def counting(*args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls > 1000:  # fail now rather than walk 2**40 paths
            raise AssertionError("shared containers are checked again on every path")
        real(*args)

    monkeypatch.setattr(torch_writer, "_check", counting)
    x: Any = [1e-4]
    for _ in range(40):
        x = [x, x]
    data = dumps({"bomb": x}, "scheduler")
    assert calls <= 2 * 42
    assert data == torch_save_bytes({"bomb": x}, tmp_path / "scheduler.bin")


def test_pickler_hook_refuses_without_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Second line of defence: with the tree check disabled, the pickler hook still refuses, before any reduce."""
    monkeypatch.setattr(torch_writer, "_check", lambda *a: None)
    Spy.touched.clear()
    with pytest.raises(TypeError, match="refusing to pickle a .*Spy"):
        dumps({"x": [1, Spy()]}, "scheduler")
    with pytest.raises(TypeError, match="refusing to pickle a numpy.float64"):
        dumps([np.float64(1.0)], "scheduler")
    with pytest.raises(TypeError, match="refusing to pickle a torch.Tensor"):
        dumps({"t": torch.zeros(1)}, "scheduler")
    assert Spy.touched == []


@pytest.mark.parametrize("name", ["", "a/b", "a\\b", "nul\x00", "sch\u00e9duler", "x" * 1025])
def test_refuses_bad_archive_name(name: str) -> None:
    with pytest.raises(ValueError, match="archive_name"):
        dumps({}, name)


def test_refuses_non_str_archive_name_and_id() -> None:
    with pytest.raises(TypeError, match="archive_name must be a str"):
        dumps({}, b"scheduler")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="serialization_id"):
        dumps({}, "scheduler", serialization_id="\u00e9")
    with pytest.raises(ValueError, match="serialization_id"):
        dumps({}, "scheduler", serialization_id=12)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        archive_name_for(b"scheduler.bin")  # type: ignore[arg-type]


def test_refuses_zip64_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 4 GiB state would need zip64 extra fields (not written); the limit lowered to test the refusal."""
    assert torch_writer._ZIP32_LIMIT == 0xFFFFFFFF
    small = dumps({"a": "x" * 100}, "scheduler")
    monkeypatch.setattr(torch_writer, "_ZIP32_LIMIT", len(small) + 1000)
    dumps({"a": "x" * 100}, "scheduler")
    with pytest.raises(ValueError, match="zip64"):
        dumps({"a": "x" * 1200}, "scheduler")


# --- no torch, no numpy -------------------------------------------------------------------------------

def test_writer_never_imports_torch() -> None:
    code = (
        "import sys\n"
        "from ckptfix.formats.torch_writer import dumps\n"
        "data = dumps({'base_lrs': [1e-4], 'last_epoch': 3, 'ok': (True, None)}, 'scheduler')\n"
        "assert data[:4] == b'PK\\x03\\x04'\n"
        "bad = [m for m in ('torch', 'numpy') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)


def test_nan_and_infinities_roundtrip(tmp_path: Path) -> None:
    state = {"best": float("inf"), "worst": float("-inf"), "nan": float("nan")}
    check_written(state, tmp_path / "scheduler.bin")
    back = torch.load(io.BytesIO(dumps(state, "scheduler")), weights_only=True)
    assert math.isnan(back["nan"]) and back["best"] == math.inf
