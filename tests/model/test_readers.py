"""The shared readers on real checkpoint files: each returns a record, a bad file a FileProblem."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

from ckptfix.errors import ResourceLimit, UnreadableFile, UnsafePickle
from ckptfix.formats.jsonfile import decode_json_text, foreign_encoding, json_kind, read_json
from ckptfix.formats.limits import Limits
from ckptfix.formats.safetensors_header import read_safetensors_header
from ckptfix.formats.source import Entry, LocalStore
from ckptfix.model.load import load_checkpoint
from ckptfix.model.readers import (
    file_index,
    int_field,
    param_group,
    problem_of,
    read_optimizer,
    read_scheduler,
    read_training_state,
    read_weights,
    scan_other_pickles,
)
from tests.helpers import FIXTURES

OK = FIXTURES / "sine-ok" / "checkpoint-30"


@pytest.fixture
def ck(tmp_path: Path) -> Path:
    dst = tmp_path / "checkpoint-30"
    shutil.copytree(OK, dst)
    return dst


def test_scheduler_and_optimizer_of_a_real_checkpoint() -> None:
    sf, n = read_scheduler(OK / "scheduler.bin", root=OK)
    assert sf.problem is None and sf.state["last_epoch"] == 30 and sf.format == "zip" and n > 0
    of = read_optimizer(OK / "optimizer.bin", root=OK)
    assert of.problem is None and of.step.value == 30 and of.step.family == "torch-adamw"
    assert [g.lr for g in of.param_groups] == [1e-4] and 0 < of.bytes_read < of.size


def test_unreadable_files_become_problems(ck: Path) -> None:
    (ck / "scheduler.bin").write_bytes(b"")
    sf, n = read_scheduler(ck / "scheduler.bin", root=ck)
    assert (sf.state, n, sf.problem.kind) == (None, 0, "unreadable") and "empty" in sf.problem.message
    (ck / "optimizer.bin").write_bytes((ck / "scheduler.bin").read_bytes() + b"x")
    assert read_optimizer(ck / "optimizer.bin", root=ck).problem is not None
    hostile = FIXTURES / "hostile" / "checkpoint-30" / "scheduler.bin"
    sf, _ = read_scheduler(hostile, root=hostile.parent)
    assert sf.problem.kind == "unsafe-pickle" and ("builtins", "exec") in {r[:2] for r in sf.problem.refused}


def test_training_state(ck: Path) -> None:
    ts = read_training_state(ck / "training_state.json", root=ck)
    assert (ts.global_step, ts.epoch_step, ts.problem, ts.encoding) == (30, 30, None, None)
    assert [(v.key, v.kind, v.value) for v in ts.values] == [("global_step", "int", 30), ("epoch_step", "int", 30)]
    (ck / "training_state.json").write_text(json.dumps([1]))
    ts = read_training_state(ck / "training_state.json", root=ck)
    assert ts.global_step is None and "JSON object" in ts.problem.message
    (ck / "training_state.json").write_text("{not json")
    assert "not valid JSON" in read_training_state(ck / "training_state.json", root=ck).problem.message


@pytest.mark.parametrize("text,kind,shown", [
    ('{"global_step": -3, "epoch_step": 30}', "negative", "-3"),
    ('{"global_step": "30", "epoch_step": 30}', "string", '"30"'),
    ('{"global_step": 30.0, "epoch_step": 30}', "float", "30.0"),
    ('{"global_step": 1e400, "epoch_step": 30}', "non-finite", "1e400"),
    ('{"global_step": true, "epoch_step": 30}', "bool", "true"),
    ('{"global_step": 9223372036854775808, "epoch_step": 30}', "huge", "9223372036854775808"),
    ('{"epoch_step": 30}', "missing", ""),
])
def test_a_step_the_resume_cannot_use_is_recorded_not_unreadable(ck: Path, text: str, kind: str, shown: str) -> None:
    """Issue 19: the file is read (not exit 3); the value is recorded as written, and is no step."""
    (ck / "training_state.json").write_text(text)
    ts = read_training_state(ck / "training_state.json", root=ck)
    assert ts.problem is None and ts.global_step is None
    v = ts.value("global_step")
    assert (v.kind, v.text) == (kind, shown)


@pytest.mark.parametrize("encoding,name", [("utf-8-sig", "UTF-8 with a byte-order mark"), ("utf-16", "UTF-16-LE"),
                                           ("utf-16-be", "UTF-16-BE"), ("utf-32", "UTF-32-LE")])
def test_the_encoding_the_trainer_cannot_read_is_recorded(ck: Path, encoding: str, name: str) -> None:
    text = (ck / "training_state.json").read_text()
    (ck / "training_state.json").write_bytes(text.encode(encoding))
    ts = read_training_state(ck / "training_state.json", root=ck)
    assert (ts.global_step, ts.epoch_step, ts.encoding, ts.problem) == (30, 30, name, None)


def test_json_and_safetensors_readers_are_bounded(ck: Path) -> None:
    with pytest.raises(ResourceLimit, match="limit is 10"):
        read_json(ck / "training_state.json", Limits(max_json_bytes=10))
    h = read_safetensors_header(ck / "model.safetensors")
    assert h.tensors > 0 and h.bytes_read == 8 + (ck / "model.safetensors").stat().st_size - 8 - h.data_bytes
    raw = (ck / "model.safetensors").read_bytes()
    (ck / "model.safetensors").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(UnreadableFile, match="truncated"):
        read_safetensors_header(ck / "model.safetensors")


def test_weights_found_below_the_folder_not_in_ckptfix(ck: Path) -> None:
    (ck / "ema").mkdir()
    shutil.copy(ck / "model.safetensors", ck / "ema" / "model.safetensors")
    (ck / ".ckptfix").mkdir()
    (ck / ".ckptfix" / "old.safetensors").write_bytes(b"junk")
    (ck / "broken.safetensors").write_bytes(b"\x01")
    names = {w.path.relative_to(ck).as_posix(): w for w in read_weights(ck)}
    assert set(names) == {"broken.safetensors", "ema/model.safetensors", "model.safetensors", "pytorch_lora_weights.safetensors"}
    assert names["broken.safetensors"].problem is not None and names["model.safetensors"].problem is None


class CountingStore(LocalStore):
    """The local disk, counting how often each folder is listed."""

    def __init__(self) -> None:
        self.listed: Counter[str] = Counter()

    def list(self, folder: Path) -> tuple[Entry, ...]:
        self.listed[Path(folder).name] += 1
        return super().list(folder)


def test_a_checkpoint_folder_is_listed_once_for_its_layout_and_once_for_its_files(ck: Path) -> None:
    (ck / "ema").mkdir()
    shutil.copy(ck / "model.safetensors", ck / "ema" / "model.safetensors")
    store = CountingStore()
    checkpoint = load_checkpoint(ck, store=store)
    # the checkpoint: Listing.of for the layouts, then one walk for every file below it; a subfolder: the
    # DeepSpeed layout looks for a tag's model states in it, and the walk
    assert store.listed == {ck.name: 2, "ema": 2}
    assert "ema/model.safetensors" in checkpoint.files
    assert {w.path.relative_to(ck).as_posix() for w in checkpoint.weights} >= {"ema/model.safetensors"}


def test_a_folder_named_like_weights_is_one_problem_and_its_files_are_not_weights(ck: Path) -> None:
    (ck / "unet.safetensors").mkdir()
    shutil.copy(ck / "model.safetensors", ck / "unet.safetensors" / "inner.safetensors")
    for weights in (read_weights(ck), load_checkpoint(ck).weights):
        odd = [w for w in weights if w.path.name == "unet.safetensors"]
        assert len(odd) == 1 and "a directory" in odd[0].problem.message
        assert not [w for w in weights if w.path.name == "inner.safetensors"]


def test_other_pickles_are_scanned(ck: Path) -> None:
    names = sorted(os.listdir(ck))
    problems, n = scan_other_pickles(ck, names)
    assert problems == () and n > 0  # random_states_0.pkl decoded with accelerate's numpy globals
    shutil.copy(FIXTURES / "hostile" / "checkpoint-30" / "scheduler.bin", ck / "random_states_0.pkl")
    problems, _ = scan_other_pickles(ck, names)
    assert [p.kind for p in problems] == ["unsafe-pickle"]


def test_small_helpers() -> None:
    assert [file_index(n) for n in ("optimizer.bin", "optimizer_1.bin", "scheduler_12.bin")] == [0, 1, 12]
    assert (int_field({"a": 3.0}, "a"), int_field({"a": True}, "a"), int_field({}, "a")) == (3, None, None)
    g = param_group({"lr": 1, "initial_lr": "x", "betas": (0.9, 0.99)})
    assert (g.lr, g.initial_lr, g.keys) == (1.0, None, ("lr", "initial_lr", "betas"))
    p = problem_of(UnsafePickle("f.bin", [("os", "system", 7)]))
    assert (p.kind, p.refused) == ("unsafe-pickle", (("os", "system", 7),))


@pytest.mark.parametrize("value, kind", [
    (0, "int"), (30, "int"), (-1, "negative"), (True, "bool"), (False, "bool"), (None, "null"), ("30", "string"),
    (30.0, "float"), (-2.0, "float"), (30.5, "fraction"), (float("inf"), "non-finite"), (float("nan"), "non-finite"),
    ([30], "list"), ({"a": 1}, "object"), (10**400, "int"),
])
def test_json_kind(value, kind) -> None:
    assert json_kind(value) == kind
    assert json_kind(value, present=False) == "missing"


def test_foreign_encoding_is_what_json_detects_but_the_trainers_cannot_read() -> None:
    text = '{"global_step": 30}'
    assert foreign_encoding(text.encode()) is None and foreign_encoding(b"") is None
    for enc, name in (("utf-8-sig", "UTF-8 with a byte-order mark"), ("utf-16", "UTF-16-LE"), ("utf-16-le", "UTF-16-LE"),
                      ("utf-16-be", "UTF-16-BE"), ("utf-32", "UTF-32-LE"), ("utf-32-le", "UTF-32-LE"),
                      ("utf-32-be", "UTF-32-BE")):
        data = text.encode(enc)
        assert foreign_encoding(data) == name, enc
        assert json.loads(decode_json_text(data)) == {"global_step": 30}
