"""training_args.bin decoded as inert records: every file real transformers 4.30-5.24 wrote decodes (and to
the values the live objects had, tests/model/test_run_config.py), and hostile variants are refused, never run."""

from __future__ import annotations

import pickle
import pickletools
import shutil
import zipfile
from pathlib import Path

import pytest

from ckptfix.errors import ResourceLimit, UnreadableFile, UnsafePickle
from ckptfix.formats.config_pickle import CONFIG_OBJECTS, ConfigRecord, EnumValue, read_config_pickle
from ckptfix.formats.limits import Limits
from tests.helpers import FIXTURES, fixture_generator

REAL = sorted((FIXTURES / "run_configs").glob("hf-*/*/training_args.bin")) + sorted(
    (FIXTURES / "trainers").glob("hf-trainer-tf[45]/checkpoint-*/training_args.bin"))


def data_pkl(path: Path) -> bytes:
    with zipfile.ZipFile(path) as z:
        return z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))


def rewritten(tmp_path: Path, new: bytes) -> Path:
    dst = tmp_path / "ckpt" / "training_args.bin"
    dst.parent.mkdir()
    shutil.copy(REAL[-1], dst)
    fixture_generator().rewrite_torch_zip_pickle(dst, new)
    return dst


def test_the_fixtures_span_the_versions():
    versions = {p.parent.parent.name for p in REAL}
    assert {"hf-4.30.2", "hf-4.40.2", "hf-4.46.3", "hf-4.57.6", "hf-5.24.0", "hf-trainer-tf4", "hf-trainer-tf5"} <= versions


@pytest.mark.parametrize("path", REAL, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_every_real_training_args_decodes_to_records(path):
    obj = read_config_pickle(path)
    assert isinstance(obj, ConfigRecord) and obj.kind == "transformers.training_args.TrainingArguments"
    assert isinstance(obj.get("lr_scheduler_type"), EnumValue)
    assert obj.get("lr_scheduler_type").kind == "transformers.trainer_utils.SchedulerType"
    state = obj.get("distributed_state")
    assert isinstance(state, ConfigRecord) and state.get("num_processes") == 1
    assert state.get("device") == "cpu"  # torch.device, inert
    globals_named = {arg.replace(" ", ".") for op, arg, _ in pickletools.genops(data_pkl(path)) if op.name == "GLOBAL"}
    assert globals_named <= {f"{m}.{n}" for m, n in CONFIG_OBJECTS}


def test_every_listed_name_exists_in_the_libraries():
    """A misspelt entry would refuse real files: each configuration class and enum is real (transformers 5.24,
    accelerate); the torch part is checked by tests/formats/test_pickle_vm.py."""
    import importlib

    names = {(m, n) for m, n in CONFIG_OBJECTS if m.split(".")[0] in ("transformers", "accelerate")}
    assert len(names) == 12
    missing = [f"{m}.{n}" for m, n in sorted(names) if not hasattr(importlib.import_module(m), n)]
    assert not missing, missing


def test_a_foreign_global_is_refused_and_never_run(tmp_path):
    """The TrainingArguments global swapped for os.system with an argument: refused by name, nothing executed."""
    marker = tmp_path / "pwned"
    evil = pickle.dumps(_Payload(f"touch {marker}"), protocol=2)
    path = rewritten(tmp_path, evil)
    with pytest.raises(UnsafePickle) as err:
        read_config_pickle(path)
    assert ("posix", "system") in {(m, n) for m, n, _ in err.value.refused}
    assert "nothing was executed" in str(err.value) and not marker.exists()


def test_an_unlisted_transformers_class_is_refused(tmp_path):
    good = data_pkl(REAL[-1])
    bad = good.replace(b"transformers.training_args\nTrainingArguments\n", b"trl.trainer.sft_config\nSFTConfig\n")
    assert bad != good
    with pytest.raises(UnsafePickle, match="trl.trainer.sft_config.SFTConfig"):
        read_config_pickle(rewritten(tmp_path, bad))


@pytest.mark.parametrize(("payload", "message"), [
    (b"\x80\x02ctransformers.training_args\nTrainingArguments\nX\x01\x00\x00\x00x\x85R.", "created without arguments"),
    (b"\x80\x02ctransformers.trainer_utils\nSchedulerType\n]\x85R.", "expects one int or str value"),
    (b"\x80\x02ctransformers.training_args\nTrainingArguments\n)\x81]b.", "BUILD state of"),
    (b"\x80\x02N.junk", "after the pickle ends"),
])
def test_allowed_names_used_as_torch_never_does_are_unreadable(tmp_path, payload, message):
    with pytest.raises(UnreadableFile, match=message):
        read_config_pickle(rewritten(tmp_path, payload))


def test_not_a_zip_and_limits(tmp_path):
    legacy = tmp_path / "training_args.bin"
    legacy.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(UnreadableFile, match="not a torch zip file"):
        read_config_pickle(legacy)
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(UnreadableFile, match="empty file"):
        read_config_pickle(empty)
    with pytest.raises(ResourceLimit):
        read_config_pickle(REAL[-1], Limits(max_pickle_bytes=100))


class _Payload:
    def __init__(self, cmd: str) -> None:
        self.cmd = cmd

    def __reduce__(self):
        import os

        return (os.system, (self.cmd,))
