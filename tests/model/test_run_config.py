"""The run's configuration read where each trainer keeps it, from files the trainers wrote: every value equals
what the live objects held, each says where it came from, and an unreadable or hostile file is a problem, never an
exception."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ckptfix.model.run_config import (
    KEYS,
    kohya_weights_name,
    read_kohya_metadata,
    read_simpletuner_metrics,
    read_trainer_state,
    read_training_args,
)
from tests.helpers import FIXTURES, fixture_generator

HF = sorted((FIXTURES / "run_configs").glob("hf-*/*/expected.json"))


@pytest.mark.parametrize("expected_file", HF, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_training_args_and_trainer_state_equal_the_live_objects(expected_file):
    want = json.loads(expected_file.read_text())
    cfg = read_training_args(expected_file.parent / "training_args.bin")
    assert cfg.problem is None and cfg.trainer == "hf-trainer" and set(cfg.values) <= set(KEYS)
    assert cfg.get("lr_scheduler") == want["lr_scheduler_type"]
    assert cfg.get("lr_scheduler_kwargs") == want["lr_scheduler_kwargs"]
    assert cfg.get("warmup_steps") == want["warmup_steps"] and type(cfg.get("warmup_steps")) is type(want["warmup_steps"])
    assert cfg.get("warmup_ratio") == want["warmup_ratio"]
    for key in ("max_steps", "num_train_epochs", "learning_rate", "gradient_accumulation_steps",
                "per_device_train_batch_size", "save_only_model"):
        assert cfg.get(key) == want[key], key
    assert cfg.get("num_processes") == want["world_size"] == 1
    assert cfg.source("lr_scheduler") == "training_args.bin: lr_scheduler_type"
    assert cfg.source("num_processes") == "training_args.bin: distributed_state.num_processes"
    state = read_trainer_state(expected_file.parent / "trainer_state.json")
    assert (state.get("max_steps"), state.get("global_step")) == (want["state_max_steps"], want["state_global_step"])
    assert state.source("max_steps") == "trainer_state.json: max_steps"


def test_version_differences_are_kept():
    """transformers 5 takes a warmup ratio as a float warmup_steps; 4.x has warmup_ratio; 4.40+ records
    split_batches; a run by epochs keeps max_steps -1 in its arguments and the real total in trainer_state.json."""
    five = read_training_args(FIXTURES / "run_configs/hf-5.24.0/cosine-min-lr-ratio/training_args.bin")
    four = read_training_args(FIXTURES / "run_configs/hf-4.57.6/cosine-min-lr-ratio/training_args.bin")
    assert (five.get("warmup_steps"), five.get("warmup_ratio")) == (0.25, None)
    assert (four.get("warmup_steps"), four.get("warmup_ratio")) == (0, 0.25)
    assert five.get("split_batches") is False and five.get("lr_scheduler_kwargs") == {"min_lr": 1e-05}
    old = read_training_args(FIXTURES / "run_configs/hf-4.30.2/cosine-restarts-epochs/training_args.bin")
    assert old.get("split_batches") is None and old.get("max_steps") == -1
    assert read_trainer_state(FIXTURES / "run_configs/hf-4.30.2/cosine-restarts-epochs/trainer_state.json").get(
        "max_steps") == 8


def test_hostile_training_args_is_a_problem_not_an_exception(tmp_path):
    dst = tmp_path / "training_args.bin"
    src = FIXTURES / "run_configs/hf-5.24.0/linear-warmup/training_args.bin"
    shutil.copy(src, dst)
    import zipfile

    with zipfile.ZipFile(src) as z:
        data = z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))
    fixture_generator().rewrite_torch_zip_pickle(dst, data.replace(b"accelerate.state\nPartialState\n",
                                                                   b"subprocess\nPopen\n"))
    cfg = read_training_args(dst)
    assert cfg.values == {} and cfg.problem is not None and cfg.problem.kind == "unsafe-pickle"
    assert ("subprocess", "Popen") in {(m, n) for m, n, _ in cfg.problem.refused}
    missing = read_training_args(tmp_path / "nope.bin")
    assert missing.problem is not None and missing.problem.kind == "unreadable"
    not_args = tmp_path / "sched" / "training_args.bin"
    not_args.parent.mkdir()
    shutil.copy(FIXTURES / "trainers/hf-trainer-tf5/checkpoint-8/scheduler.pt", not_args)
    assert "not TrainingArguments" in read_training_args(not_args).problem.message


def test_kohya_metadata():
    d = FIXTURES / "run_configs/kohya"
    cfg = read_kohya_metadata(d / "cosine-with-restarts-step00000100.safetensors")
    assert cfg.problem is None and cfg.trainer == "kohya"
    assert {k: cfg.get(k) for k in ("lr_scheduler", "warmup_steps", "max_steps", "learning_rate", "global_step",
                                    "num_batches_per_epoch")} == {
        "lr_scheduler": "cosine_with_restarts", "warmup_steps": 10, "max_steps": 400, "learning_rate": 1e-4,
        "global_step": 100, "num_batches_per_epoch": 40}
    assert all(type(cfg.get(k)) is int for k in ("warmup_steps", "max_steps", "global_step"))  # counts, not ratios
    assert cfg.source("warmup_steps") == "cosine-with-restarts-step00000100.safetensors metadata: ss_lr_warmup_steps"
    ratio = read_kohya_metadata(d / "linear-ratio-warmup-000002.safetensors")
    assert ratio.get("warmup_steps") == 0.05 and isinstance(ratio.get("warmup_steps"), float)
    assert ratio.get("num_cycles") is None and ratio.get("lr_power") is None  # sd-scripts does not write them


def test_kohya_metadata_without_scheduler_keys_and_bad_files(tmp_path):
    import torch
    from safetensors.torch import save_file

    bare = tmp_path / "lora.safetensors"
    save_file({"w": torch.zeros(1)}, str(bare), {"ss_network_dim": "4"})  # what --no_metadata leaves
    cfg = read_kohya_metadata(bare)
    assert cfg.values == {} and "no ss_lr_scheduler" in cfg.notes[0]
    fork = tmp_path / "fork.safetensors"
    save_file({"w": torch.zeros(1)}, str(fork), {"ss_lr_scheduler": "cosine_with_restarts",
                                                "ss_lr_scheduler_num_cycles": "3", "ss_lr_scheduler_power": "1.5",
                                                "ss_lr_warmup_steps": "None"})
    f = read_kohya_metadata(fork)
    assert (f.get("num_cycles"), f.get("lr_power"), f.get("warmup_steps")) == (3, 1.5, None)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00")
    assert read_kohya_metadata(broken).problem.kind == "unreadable"


@pytest.mark.parametrize(("folder", "weights"), [
    ("lora-step00000100-state", "lora-step00000100.safetensors"), ("lora-000001-state", "lora-000001.safetensors"),
    ("lora-state", "lora.safetensors"), ("checkpoint-10", None), ("-state", None)])
def test_kohya_weights_name(folder, weights):
    assert kohya_weights_name(folder) == weights


def test_simpletuner_metrics(tmp_path):
    cfg = read_simpletuner_metrics(FIXTURES / "run_configs/simpletuner/training_metrics.json")
    assert cfg.problem is None and cfg.trainer == "simpletuner"
    assert {k: cfg.get(k) for k in ("lr_scheduler", "warmup_steps", "max_steps", "learning_rate",
                                    "gradient_accumulation_steps")} == {
        "lr_scheduler": "polynomial", "warmup_steps": 100, "max_steps": 2000, "learning_rate": 1e-4,
        "gradient_accumulation_steps": 2}
    assert cfg.get("lr_end") is None and "lr_end" in cfg.notes[0]  # the tracker keeps no lr_end
    assert cfg.source("lr_scheduler") == "training_metrics.json: config.lr_scheduler"
    bad = tmp_path / "training_metrics.json"
    bad.write_text('{"config": 3}')
    assert read_simpletuner_metrics(bad).problem is not None
    assert read_simpletuner_metrics(Path(tmp_path / "missing.json")).problem is not None
