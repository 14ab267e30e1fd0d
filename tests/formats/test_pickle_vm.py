"""The restricted pickle VM: real pickles decode to equal values; hostile ones fail fast and typed."""

from __future__ import annotations

import math
import pickle
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ckptfix.errors import ResourceLimit, UnreadableFile, UnsafePickle
from ckptfix.formats.allowlist import TORCH_STATE
from ckptfix.formats.limits import Limits
from ckptfix.formats.pickle_vm import decode_pickle, run_pickle

P = (1 << 61) - 1

# -- plain data round trips (pickle.dumps only serializes; nothing is unpickled) -------------------
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20) \
    | st.binary(max_size=20)
hashables = st.recursive(scalars, lambda c: st.tuples(c, c) | st.frozensets(c, max_size=3), max_leaves=8)
values = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(hashables, c, max_size=4) | st.tuples(c, c)
    | st.sets(hashables, max_size=3),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values, st.integers(0, 5))
def test_roundtrip_equals_pickle(value, protocol):
    data = pickle.dumps(value, protocol=protocol)
    res = run_pickle(data, TORCH_STATE)
    assert res.error is None and not res.refused, res.error
    assert res.value == value
    assert res.end == len(data)


def test_foreign_global_reported_with_offset():
    data = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00lsR."
    with pytest.raises(UnsafePickle) as ei:
        decode_pickle("x.pkl", data, TORCH_STATE)
    assert ei.value.refused == [("os", "system", 2)]
    assert "os.system (at byte 2)" in str(ei.value)


def test_refused_global_wins_over_later_malformation():
    res = run_pickle(b"\x80\x02cos\nsystem\n)R\xff", TORCH_STATE)
    assert [(r.module, r.name) for r in res.refused] == [("os", "system")] and res.error


def _limit(data: bytes, limits: Limits = Limits()) -> str:
    """The limit that refused ``data`` (how long refusals take is measured in bench/hostile.py)."""
    with pytest.raises(ResourceLimit) as ei:
        decode_pickle("x.pkl", data, TORCH_STATE, limits=limits)
    return ei.value.problem


def test_opcode_limit():
    assert "opcodes" in _limit(b"\x80\x02" + b"N0" * 600 + b"N.", Limits(max_pickle_ops=1000))


def test_opcode_budget_is_exact():
    # PROTO, NONE, BINPUT, POP, 497 x (NONE, POP), NONE, STOP: 1,000 opcodes in 1,002 bytes, so the
    # budget counts (the stream is longer than it); exactly the limit passes, one opcode more does not
    limits = Limits(max_pickle_ops=1000)
    head = b"\x80\x02Nq\x000" + b"N0" * 497
    assert len(head + b"N.") > limits.max_pickle_ops
    assert run_pickle(head + b"N.", TORCH_STATE, limits=limits).error is None
    assert "opcodes" in _limit(head + b"Nq\x00.", limits)


def test_truncated_stream_says_no_stop():
    res = run_pickle(b"\x80\x02N", TORCH_STATE)
    assert res.error and "ends without STOP" in res.error and "at byte 3" in res.error


def test_text_lines_are_linear():
    # 100,000 text opcodes used to copy 64 KB each (6.5 GB of copying)
    data = b"(" + b"I1\n" * 100_000 + b"l."
    res = run_pickle(data, TORCH_STATE)
    assert res.error is None and len(res.value) == 100_000


def _dag(depth: int) -> bytes:
    return b"K\x00\x85" + b"2\x86" * depth


def test_deep_tuple_key_is_refused_before_hashing():
    # hashing a 100,000-deep tuple recurses in C: its depth is measured (iteratively) first
    assert "nested deeper" in _limit(b"\x80\x02}" + b")" + b"\x85" * 100_000 + b"Ns.")


def test_deep_tuple_never_hashed_nor_kept_costs_nothing():
    # tuples carry no bookkeeping until hashed; one dropped from the stack is simply gone
    res = run_pickle(b"\x80\x02)" + b"\x85" * 5_000 + b"0N.", TORCH_STATE)
    assert res.error is None and res.value is None


def test_shared_tuple_dag_as_key_is_refused_fast():
    assert "expands" in _limit(b"\x80\x02}" + _dag(62) + b"Ns.")


def test_shared_tuple_hashed_many_times_hits_budget():
    body = b"\x80\x02" + _dag(18) + b"q\x00" + b"}h\x00Ns0" * 2000 + b"N."
    assert "hashing" in _limit(body)


def test_hash_flooding_is_refused():
    keys = b"".join(b"\x8a\x09" + (k * P).to_bytes(9, "little", signed=True) + b"N" for k in range(1, 100))
    assert "share a hash" in _limit(b"\x80\x02}(" + keys + b"u.")


def test_legit_equal_hashes_pass():
    # -1 and -2 share a hash in CPython; a handful of collisions is fine
    res = run_pickle(pickle.dumps({-1: 0, -2: 1, 1.0: 2, "a": 3}, protocol=2), TORCH_STATE)
    assert res.error is None and res.value == {-1: 0, -2: 1, 1: 2, "a": 3}


def test_shared_list_dag_is_refused():
    body = b"]q\x000"
    for i in range(40):
        body += b"](h" + bytes([i]) + b"h" + bytes([i]) + b"eq" + bytes([i + 1]) + b"0"
    assert "expands" in _limit(b"\x80\x02" + body + b"h\x28.")


def test_moderate_sharing_is_fine():
    body = b"]q\x000"
    for i in range(10):  # 2**10 leaves: fine
        body += b"](h" + bytes([i]) + b"h" + bytes([i]) + b"eq" + bytes([i + 1]) + b"0"
    assert run_pickle(b"\x80\x02" + body + b"h\x0a.", TORCH_STATE).error is None


def test_nesting_limit_and_cycles():
    assert "nested deeper" in _limit(b"\x80\x02" + b"]" * 100 + b"a" * 99 + b".")
    ok = run_pickle(b"\x80\x02" + b"]" * 60 + b"a" * 59 + b".", TORCH_STATE)
    assert ok.error is None
    with pytest.raises(UnreadableFile, match="contains itself"):
        decode_pickle("x.pkl", b"\x80\x02]q\x00h\x00a.", TORCH_STATE)


def test_memo_key_range():
    with pytest.raises(UnreadableFile, match="memo key"):
        decode_pickle("x.pkl", b"Np" + str(3 * P).encode() + b"\n.", TORCH_STATE)


def test_persistent_load_errors_do_not_escape():
    def pl(pid):
        raise UnreadableFile("x.bin", "unexpected persistent id")

    res = run_pickle(b"\x80\x02X\x01\x00\x00\x00aQ.", TORCH_STATE, pl)
    assert res.error and "persistent id" in res.error


@pytest.mark.parametrize("data", [
    b"\x80\x04\x8d" + struct.pack("<Q", 2 ** 63) + b".",
    b"\x80\x02T" + struct.pack("<i", -1) + b".",
    b"\x80\x02\x8b" + struct.pack("<i", 2 ** 31 - 1) + b".",
    b"", b"\x80", b"(" * 20_000 + b".", b"I" + b"1" * 5000 + b"\n.",
])
def test_bad_lengths_fail_typed(data):
    with pytest.raises(UnreadableFile):
        decode_pickle("x.pkl", data, TORCH_STATE)


def test_nan_and_inf_decode():
    res = run_pickle(pickle.dumps({"a": float("nan"), "b": float("-inf")}, protocol=2), TORCH_STATE)
    assert math.isnan(res.value["a"]) and res.value["b"] == float("-inf")


def test_structure_size_limit_counts_flat_and_nested_containers():
    flat = pickle.dumps(list(range(50)), protocol=2)
    nested = pickle.dumps([list(range(25)), list(range(25))], protocol=2)
    for data in (flat, nested):
        assert run_pickle(data, TORCH_STATE, limits=Limits(max_objects=60)).error is None
        assert "expands" in _limit(data, Limits(max_objects=40))


def test_every_allowlisted_torch_global_exists_in_torch():
    """The allowlist names real objects: a misspelt entry would refuse real files (or admit a name torch lacks)."""
    import importlib

    from ckptfix.formats.allowlist import DEEPSPEED_STATE, RNG_STATE

    names = {k for table in (TORCH_STATE, RNG_STATE, DEEPSPEED_STATE) for k in table if k[0].split(".")[0] in ("torch", "collections", "_codecs")}
    assert ("torch._utils", "_rebuild_tensor") in names and ("torch._utils", "_rebuild_tensor_v2") in names
    missing = [f"{m}.{n}" for m, n in sorted(names) if not hasattr(importlib.import_module(m), n)]
    assert not missing, missing


def test_counter_from_a_real_multisteplr_state_decodes_as_torch_loads_it(tmp_path):
    """torch's weights-only loader accepts collections.Counter (MultiStepLR keeps its milestones in one): so
    does ckptfix, as a Counter equal to torch's; a Counter called with anything but one dict is refused."""
    import warnings
    from collections import Counter

    import torch

    from ckptfix.formats.torchfile import open_torch_file

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 5, 5], gamma=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(6):
            opt.step()
            sched.step()
    path = tmp_path / "scheduler.bin"
    torch.save(sched.state_dict(), path)
    with open_torch_file(path) as tf:
        state = tf.obj
    expected = torch.load(path, weights_only=True)
    assert state == expected and type(state["milestones"]) is Counter
    assert state["milestones"] == Counter({5: 2, 2: 1})
    bad = b"\x80\x02ccollections\nCounter\n]\x85R."  # Counter([]): never what torch writes
    res = run_pickle(bad, TORCH_STATE)
    assert res.error is not None and "Counter expects" in res.error
