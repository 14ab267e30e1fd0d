"""Step counts read from real optimizer state dicts (fixtures/optimizers/, see its README and generate.py)
and from odd inputs. No torch import: the safe reader decodes the fixtures."""

from __future__ import annotations

import json
import math

import pytest

from ckptfix.errors import UnreadableFile, UnsafePickle
from ckptfix.formats.objects import StorageRef, TensorRef
from ckptfix.formats.torchfile import open_torch_file
from ckptfix.model.optimizer_step import StepCount, optimizer_step_count
from tests.helpers import FIXTURES as ROOT_FIXTURES

FIXTURES = ROOT_FIXTURES / "optimizers"
EXPECTED: dict = json.loads((FIXTURES / "expected.json").read_text())
COUNTED = sorted(n for n, e in EXPECTED.items() if "expect" in e)
REFUSED = sorted(n for n, e in EXPECTED.items() if "refused" in e)


def test_every_fixture_file_is_listed_and_exists():
    on_disk = {p.stem for p in FIXTURES.glob("*.bin")}
    assert on_disk == set(EXPECTED), "fixture files and expected.json differ: regenerate"
    assert len(COUNTED) >= 30


@pytest.mark.parametrize("name", COUNTED)
def test_fixture_step_count(name: str):
    e = EXPECTED[name]
    reads: list[TensorRef] = []
    with open_torch_file(FIXTURES / e["file"]) as tf:

        def read(t: TensorRef):
            assert t.numel == 1, "read a non-scalar tensor"
            reads.append(t)
            return tf.read_scalar(t)

        sc = optimizer_step_count(tf.obj, lambda refs: [read(t) for t in refs])
    want = e["expect"]
    assert (sc.value, sc.family, sc.schedule_free) == (want["value"], want["family"], want["schedule_free"]), sc
    if want["value"] is None:
        assert sc.note, "an unknown count must say why"
    else:
        # an optimizer that counts must report exactly the steps the generator took
        assert want["value"] == e["steps_taken"]
    assert sc.source


@pytest.mark.parametrize("name", REFUSED)
def test_fixture_refused_by_safe_reader(name: str):
    e = EXPECTED[name]
    with pytest.raises(UnsafePickle) as info:
        open_torch_file(FIXTURES / e["file"]).close()
    refused = {f"{m}.{n}" for m, n, _ in info.value.refused}
    assert set(e["refused"]) <= refused


def test_handbuilt_fixtures_are_marked_and_explained():
    for name, e in EXPECTED.items():
        assert e["handbuilt"] == ("-handbuilt" in name)
        if e["handbuilt"]:
            assert e.get("why"), name


def test_partial_grads_fixture_really_disagrees():
    e = EXPECTED["adamw-partial-grads-torch"]
    assert not e["handbuilt"] and sorted(set(e["raw_counter"])) == [3.0, 5.0]
    with open_torch_file(FIXTURES / e["file"]) as tf:
        sc = optimizer_step_count(tf.obj, tf.read_scalars)
    assert sc.value is None and "2 at 5" in sc.note and "2 at 3" in sc.note


def test_step0_says_no_step_taken():
    with open_torch_file(FIXTURES / "adamw-step0-torch.bin") as tf:
        assert tf.obj["state"] == {}
        sc = optimizer_step_count(tf.obj, tf.read_scalars)
    assert sc.value == 0 and "no optimizer step taken" in sc.note


def test_reads_only_small_part_of_file():
    path = FIXTURES / "adamw-torch.bin"
    with open_torch_file(path) as tf:
        before = tf.bytes_read
        sc = optimizer_step_count(tf.obj, tf.read_scalars)
        assert sc.value == 7
        assert tf.bytes_read - before < 1024  # four 4-byte storages plus their zip headers


# ---- unit tests on odd inputs -------------------------------------------------------------------

def ref(dtype: str = "float32", shape: tuple = (), key: str = "0") -> TensorRef:
    itemsize = {"float32": 4, "float64": 8, "int64": 8, "int32": 4, "float16": 2, "bfloat16": 2, "uint8": 1, "bool": 1}[dtype]
    n = math.prod(shape) if shape else 1
    return TensorRef(StorageRef(key, dtype, itemsize, "cpu", n), 0, tuple(shape), tuple(1 for _ in shape))


def reader(values: dict[str, object]):
    def read(t: TensorRef):
        assert t.numel == 1, "read a non-scalar tensor"
        return values[t.storage.key]
    return read


ADAMW_GROUP = {"lr": 1e-4, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01, "amsgrad": False,
               "decoupled_weight_decay": True, "params": [0, 1]}


def adamw(steps: list[object]) -> dict:
    return {"state": {i: {"step": s, "exp_avg": ref(shape=(4, 4), key=f"m{i}"), "exp_avg_sq": ref(shape=(4, 4), key=f"v{i}")}
                      for i, s in enumerate(steps)},
            "param_groups": [dict(ADAMW_GROUP, params=list(range(len(steps))))]}


def count(sd, values=None) -> StepCount:
    read = reader(values or {})
    return optimizer_step_count(sd, lambda refs: [read(t) for t in refs])


@pytest.mark.parametrize("sd", [None, 3, "x", [], {}, {"state": {}}, {"param_groups": []}, {"state": [], "param_groups": []},
                                {"state": {}, "param_groups": []}, {"state": {}, "param_groups": [1, "a"]},
                                {"state": {0: "junk", "k": None}, "param_groups": [{"params": 5}]}])
def test_garbage_never_raises(sd):
    sc = count(sd)
    assert sc.value is None and sc.note
    # the function also catches anything as a last line of defence: odd input must be handled before it
    assert "could not interpret the state" not in sc.note


def test_tensor_steps_agree():
    sc = count(adamw([ref(key="a"), ref(key="b")]), {"a": 12.0, "b": 12.0})
    assert (sc.value, sc.family) == (12, "torch-adamw") and sc.note is None
    assert "0-d float32 tensor" in sc.source


def test_old_torch_int_steps():
    sd = adamw([40, 40])
    del sd["param_groups"][0]["decoupled_weight_decay"]
    sc = count(sd)
    assert (sc.value, sc.family) == (40, "torch-adam-or-adamw")


@pytest.mark.parametrize("raw, why", [(float("nan"), "nan"), (float("inf"), "inf"), (-3.0, "negative"),
                                      (2.5, "whole number"), (True, "bool")])
def test_odd_tensor_values(raw, why):
    sc = count(adamw([ref(key="a"), ref(key="b")]), {"a": raw, "b": raw})
    assert sc.value is None and why in sc.note.lower()


@pytest.mark.parametrize("raw", [-1, 2.5, float("nan"), "7", None, [1], True])
def test_odd_python_values(raw):
    sc = count(adamw([raw, raw]))
    assert sc.value is None and sc.note


def test_disagreement_between_params():
    sc = count(adamw([ref(key="a"), ref(key="b"), ref(key="c")]), {"a": 100.0, "b": 100.0, "c": 99.0})
    assert sc.value is None and "disagree" in sc.note and "2 at 100" in sc.note and "1 at 99" in sc.note


def test_missing_step_in_some_params():
    sd = adamw([ref(key="a"), ref(key="b")])
    del sd["state"][1]["step"]
    sc = count(sd, {"a": 5.0})
    assert sc.value is None and "1 of 2" in sc.note


def test_non_scalar_step_is_not_read():
    sc = count(adamw([ref(shape=(3,), key="a")]))  # the reader asserts if asked
    assert sc.value is None and "not read" in sc.note


def test_float32_saturation():
    sc = count(adamw([ref(key="a")]), {"a": float(2**24)})
    assert sc.value is None and "16,777,216" in sc.note
    assert count(adamw([ref(key="a")]), {"a": float(2**24 - 1)}).value == 2**24 - 1
    assert count(adamw([ref("float64", key="a")]), {"a": float(2**24 + 1)}).value == 2**24 + 1


def test_read_error_becomes_note_but_unreadable_file_propagates():
    def bad(t):
        raise ValueError("cannot decode")

    sc = optimizer_step_count(adamw([ref(key="a")]), lambda refs: [bad(t) for t in refs])
    assert sc.value is None and "cannot decode" in sc.note

    def broken(t):
        raise UnreadableFile("x.bin", "truncated")

    with pytest.raises(UnreadableFile):
        optimizer_step_count(adamw([ref(key="a")]), lambda refs: [broken(t) for t in refs])


def test_empty_state_unknown_family_is_not_zero():
    sc = count({"state": {}, "param_groups": [{"lr": 1.0, "params": [0]}]})
    assert sc.value is None and "empty" in sc.note


def test_nonzero_steps_after_zero_counter_not_advanced():
    sc = count(adamw([0, 0]))
    assert sc.value is None and "never advanced" in sc.note


def test_schedule_free_k():
    sd = {"state": {0: {"z": ref(shape=(2, 2))}},
          "param_groups": [{"lr": 1e-3, "k": 250, "train_mode": True, "weight_sum": 1.0, "params": [0]},
                           {"lr": 1e-3, "k": 250, "train_mode": False, "weight_sum": 1.0, "params": [1]}]}
    sc = count(sd)
    assert (sc.value, sc.family, sc.schedule_free) == (250, "schedule-free", True)
    sd["param_groups"][1]["k"] = 249
    assert count(sd).value is None


def test_prodigy_group_k_vs_param_steps():
    sd = {"state": {0: {"step": 9, "s": ref(shape=(4,)), "p0": ref(shape=(4,))}, 1: {"step": 9}},
          "param_groups": [{"k": 9, "d": 1e-6, "d0": 1e-6, "params": [0, 1]}]}
    assert (count(sd).value, count(sd).family, count(sd).schedule_free) == (9, "prodigy", False)
    sd["state"][1]["step"] = 8
    sc = count(sd)
    assert sc.value is None and "disagree" in sc.note


def test_optimi_group_tensor():
    sd = {"state": {0: {"exp_avg": ref(shape=(2,))}},
          "param_groups": [{"step": ref("int32", key="s"), "triton": False, "gradient_release": False, "params": [0]}]}
    sc = count(sd, {"s": 31})
    assert (sc.value, sc.family) == (31, "optimi")


def test_pytorch_optimizer_group_int_and_missing_group():
    sd = {"state": {0: {"exp_avg": ref(shape=(2,))}},
          "param_groups": [{"step": 8, "params": [0]}, {"params": [1]}]}
    sc = count(sd)
    assert sc.value is None and "1 of 2" in sc.note
    sd["param_groups"][1]["step"] = 8
    assert (count(sd).value, count(sd).family) == (8, "pytorch-optimizer")


def test_no_count_families():
    lion = {"state": {0: {"exp_avg": ref(shape=(2,))}}, "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.99), "weight_decay": 0.0, "params": [0]}]}
    sc = count(lion)
    assert (sc.value, sc.family) == (None, "lion") and "no step count" in sc.note
    sgd = {"state": {0: {"momentum_buffer": ref(shape=(2,))}},
           "param_groups": [{"lr": 1e-2, "momentum": 0.9, "dampening": 0, "nesterov": False, "params": [0]}]}
    assert (count(sgd).value, count(sgd).family) == (None, "torch-sgd")
