"""The whole-record decoder (formats/tensor_record.py) against the opcode interpreter it short-cuts.

Every comparison decodes the same bytes twice, with ``whole_records`` on and off, and asserts the same
value, refusals, error message (with its byte offset) and end offset. The inputs are pickles written
by real torch — tensors of every rank, dtype and view the decoder's pattern covers and some it does
not — and mutations of them aimed at the records' bytes.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ckptfix.errors import UnreadableFile
from ckptfix.formats import tensor_record
from ckptfix.formats.allowlist import DEEPSPEED_STATE, RNG_STATE, TORCH_STATE
from ckptfix.formats.pickle_vm import run_pickle
from ckptfix.formats.torchfile import storage_from_pid
from tests.helpers import CORPUS
from tests.helpers import FIXTURES as ROOT_FIXTURES

FIXTURES = ROOT_FIXTURES
CORPUS_REAL = CORPUS / "cases" / "real"
_ENV = os.environ.get("CKPTFIX_FUZZ_EXAMPLES")
FUZZ = settings(max_examples=int(_ENV) if _ENV else 300, deadline=None, derandomize=_ENV is None, database=None,
                suppress_health_check=list(HealthCheck))


def _pl(pid):
    return storage_from_pid(Path("x"), pid, None, "")


def _data_pkl(raw: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        return z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))


def _saved(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return _data_pkl(buf.getvalue())


def _both(data: bytes, allow=TORCH_STATE, pl=_pl):
    fast = run_pickle(data, allow, pl)
    slow = run_pickle(data, allow, pl, whole_records=False)
    return fast, slow


def _same(data: bytes, allow=TORCH_STATE, pl=_pl) -> None:
    fast, slow = _both(data, allow, pl)
    # repr: NaN values (a corpus scheduler has one) are equal there, and every record type has a full repr
    assert repr((fast.value, fast.refused, fast.error, fast.end)) == repr((slow.value, slow.refused, slow.error, slow.end))


def _varied_state() -> dict:
    """An optimizer-like state with every layout the record pattern distinguishes."""
    g = torch.Generator().manual_seed(0)
    base = torch.zeros(40, 30)
    conv = torch.zeros(8, 4, 3, 3)
    many = torch.zeros(*([2] * 6))
    state = {
        i: {"step": torch.tensor(float(i)), "exp_avg": t, "exp_avg_sq": t.clone()}
        for i, t in enumerate([
            torch.zeros(5), torch.zeros(300), torch.zeros(70_000, 1),  # BININT1 / BININT2 / BININT sizes
            base, base[3:9], base.t(), base[:, 2],  # offsets and strides of views
            conv, many, torch.zeros(0, 4), torch.zeros(3, dtype=torch.bfloat16),
            torch.zeros(2, dtype=torch.float16), torch.zeros(2, dtype=torch.int64),
        ])
    }
    state[99] = {"shared": base, "again": base}  # the same tensor twice: BINGET of a memoized tensor
    param = torch.nn.Parameter(torch.rand(3, generator=g))  # _rebuild_parameter around a record
    return {"state": state, "param_groups": [{"lr": 1e-4, "params": list(state)}], "p": param,
            "grad": torch.zeros(4).requires_grad_()}


@pytest.fixture(scope="module")
def varied() -> bytes:
    return _saved(_varied_state())


def test_varied_state_decodes_the_same_and_mostly_whole(varied, monkeypatch):
    calls = []
    real = tensor_record.RecordDecoder.decode

    def counting(self, data, at, memo):
        got = real(self, data, at, memo)
        calls.append(got is not None)
        return got

    monkeypatch.setattr(tensor_record.RecordDecoder, "decode", counting)
    _same(varied)
    calls.clear()
    fast = run_pickle(varied, TORCH_STATE, _pl)
    assert fast.error is None
    t = fast.value["state"][5]["exp_avg"]  # base.t(): stride (1, 30)
    assert (t.shape, t.stride) == ((30, 40), (1, 30))
    assert fast.value["state"][4]["exp_avg"].offset == 90
    assert fast.value["state"][2]["exp_avg"].shape == (70_000, 1)
    assert fast.value["state"][8]["exp_avg"].shape == (2,) * 6
    assert fast.value["grad"].requires_grad is True
    # every record in the common layout is decoded whole; the others (the first of each storage type
    # names its global, a view of a storage already written refers back to its key) are interpreted
    common = len(list(tensor_record._RECORD.finditer(varied)))
    assert common >= 30 and sum(calls) == common and 0 < calls.count(False) < common / 4


def _torch_files() -> list[Path]:
    out = []
    for p in sorted([*FIXTURES.rglob("*"), *CORPUS_REAL.rglob("*")]):
        if p.is_file() and not p.is_symlink() and p.suffix in (".bin", ".pt", ".pth", ".pkl"):
            with p.open("rb") as f:
                if f.read(2) == b"PK":
                    out.append(p)
    return out


TORCH_FILES = _torch_files()


def test_there_are_real_files_to_compare():
    assert len(TORCH_FILES) > 50


@pytest.mark.parametrize("allow", [TORCH_STATE, RNG_STATE, DEEPSPEED_STATE], ids=["torch", "rng", "deepspeed"])
def test_every_real_torch_file_decodes_the_same(allow):
    for p in TORCH_FILES:
        try:
            data = _data_pkl(p.read_bytes())
        except (KeyError, StopIteration, zipfile.BadZipFile):
            continue
        try:
            _same(data, allow)
        except AssertionError:
            pytest.fail(f"{p}: whole-record decode differs from the interpreter")


def _retarget(data: bytes, m, put_group: int, index: int) -> bytes:
    """``data`` with the 1-byte PUT of the record ``m``'s ``put_group`` storing at memo ``index``."""
    rec = bytearray(m.group(0))
    assert m.group(put_group)[:1] == b"q"
    rec[m.start(put_group) + 1 - m.start()] = index
    return data[:m.start()] + bytes(rec) + data[m.end():]


@pytest.mark.parametrize("case", ["key-over-location", "size-over-hooks"])
def test_a_record_that_reads_what_it_stored_is_interpreted(varied, case):
    # a PUT inside the record overwrites the memo index the same record reads later (its storage
    # location, its hooks builder): the interpreter reads the new value, and so must the decode
    m = next(m for m in tensor_record._RECORD.finditer(varied)
             if m.group(3)[:1] == b"q" and (m.group(8) or b"")[:1] == b"q")
    if case == "key-over-location":
        data = _retarget(varied, m, 3, m.group(4)[0])
    else:
        data = _retarget(varied, m, 8, m.group(11)[2])
    _same(data)
    assert run_pickle(data, TORCH_STATE, _pl).value != run_pickle(varied, TORCH_STATE, _pl).value


def test_persistent_load_errors_keep_their_offset(varied):
    def refusing(pid):
        if pid[2] == "7":
            raise UnreadableFile(Path("x"), "storage '7' named by the pickle is missing from the archive")
        return _pl(pid)

    fast, slow = _both(varied, pl=refusing)
    assert fast.error == slow.error and "missing from the archive" in fast.error


@st.composite
def record_mutation(draw, data: bytes) -> bytes:
    """A few bytes changed, inserted or deleted inside the tensor records."""
    spans = [m.span() for m in tensor_record._RECORD.finditer(data)]
    b = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        lo, hi = draw(st.sampled_from(spans))
        pos = draw(st.integers(lo, min(hi, len(b)) - 1))
        kind = draw(st.sampled_from(["byte", "opcode", "insert", "delete"]))
        if kind == "byte":
            b[pos] = draw(st.integers(0, 255))
        elif kind == "opcode":
            b[pos] = draw(st.sampled_from(b"()tQRhqrKMJX\x85\x86\x87\x88\x89.0}]N"))
        elif kind == "insert":
            b[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        else:
            del b[pos:pos + draw(st.integers(1, 4))]
    return bytes(b)


@FUZZ
@given(st.data())
def test_mutated_records_decode_the_same(varied, data):
    _same(data.draw(record_mutation(varied)))
