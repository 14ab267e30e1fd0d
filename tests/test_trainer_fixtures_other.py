"""fixtures/other_trainers: kohya, plain-accelerate auto-named and diffusers-style folders hold what
their README says, and accelerate's own load_state() picks what docs/trainers.md says."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch

from tests.helpers import FIXTURES

OTHER = FIXTURES / "other_trainers"
W, LR, LR_END = 10, 1e-4, 1e-6

KOHYA = {  # folder: (current_epoch, current_step)
    "tiny-step00000010-state": (2, 10),
    "tiny-step00000020-state": (3, 20),
    "tiny-000001-state": (1, 8),
    "tiny-000002-state": (2, 16),
    "tiny-state": (3, 24),
}


def sched(folder: Path) -> dict:
    return torch.load(folder / "scheduler.bin", weights_only=True)


def v2_lr(e: int) -> float:
    return math.floor((LR_END + (LR - LR_END) * 0.5 * (1 + math.sin(math.pi * e / W))) * 1e9) / 1e9


def assert_v2_at(folder: Path, step: int) -> None:
    s = sched(folder)
    assert (s["T_0"], s["T_i"], s["T_cur"], s["T_mult"]) == (W, W, -1, 1)
    assert s["last_epoch"] == s["total_steps"] == step and s["_step_count"] == 0
    assert abs(s["_last_lr"][0] - v2_lr(step)) <= 1.5e-9
    opt = torch.load(folder / "optimizer.bin", weights_only=True)
    assert {float(v["step"]) for v in opt["state"].values()} == {float(step)}
    assert opt["param_groups"][0]["lr"] == s["_last_lr"][0]


def test_kohya_state_folders_and_train_state():
    base = OTHER / "kohya"
    assert sorted(p.name for p in base.iterdir()) == sorted(KOHYA)
    for name, (epoch, step) in KOHYA.items():
        d = base / name
        assert json.loads((d / "train_state.json").read_text()) == {"current_epoch": epoch, "current_step": step}
        assert sorted(p.name for p in d.iterdir()) == [
            "model.safetensors", "optimizer.bin", "random_states_0.pkl", "scheduler.bin", "train_state.json",
        ]
        assert_v2_at(d, step)


def test_accelerate_auto_named_checkpoints():
    base = OTHER / "accelerate-auto"
    assert sorted(p.name for p in base.iterdir()) == ["checkpoints"]
    folders = sorted(p.name for p in (base / "checkpoints").iterdir())
    assert folders == ["checkpoint_0", "checkpoint_1", "checkpoint_2"]
    for i, name in enumerate(folders):
        d = base / "checkpoints" / name
        assert sorted(p.name for p in d.iterdir()) == [
            "model.safetensors", "optimizer.bin", "random_states_0.pkl", "scheduler.bin",
        ]
        assert_v2_at(d, 10 * (i + 1))


def test_accelerate_load_state_without_argument_picks_the_highest_index(tmp_path):
    """accelerator.py load_state(None) with automatic_checkpoint_naming: highest <i> wins."""
    pytest.importorskip("accelerate")
    import shutil

    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration

    project = tmp_path / "run"
    shutil.copytree(OTHER / "accelerate-auto", project)
    # a checkpoint_10 sorts after checkpoint_2 numerically (not as text): it must win
    shutil.copytree(project / "checkpoints" / "checkpoint_0", project / "checkpoints" / "checkpoint_10")
    acc = Accelerator(cpu=True, project_config=ProjectConfiguration(project_dir=str(project),
                                                                    automatic_checkpoint_naming=True))
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=LR)
    sch = torch.optim.lr_scheduler.StepLR(opt, step_size=1000)  # plain __dict__.update on load
    model, opt, sch = acc.prepare(model, opt, sch)
    acc.load_state()
    assert sch.scheduler.last_epoch == 10  # checkpoint_10 is a copy of checkpoint_0 (step 10)
    shutil.rmtree(project / "checkpoints" / "checkpoint_10")
    acc.load_state()
    assert sch.scheduler.last_epoch == 30
    assert acc.project_configuration.iteration == 0  # load_state does not restore the save counter


def test_diffusers_style_with_a_killed_save(tmp_path):
    base = OTHER / "diffusers"
    assert sorted(p.name for p in base.iterdir()) == ["checkpoint-10", "checkpoint-20", "checkpoint-30"]
    for step in (10, 20):
        d = base / f"checkpoint-{step}"
        assert sorted(p.name for p in d.iterdir()) == [
            "optimizer.bin", "pytorch_lora_weights.safetensors", "random_states_0.pkl", "scheduler.bin",
        ]
        assert_v2_at(d, step)
    partial = base / "checkpoint-30"
    assert sorted(p.name for p in partial.iterdir()) == ["optimizer.bin", "pytorch_lora_weights.safetensors"]
    opt = torch.load(partial / "optimizer.bin", weights_only=True)
    assert {float(v["step"]) for v in opt["state"].values()} == {30.0}
    # train_text_to_image_lora.py's "latest": highest int after "checkpoint-", no -tmp filter
    dirs = sorted((d for d in os.listdir(base) if d.startswith("checkpoint")), key=lambda x: int(x.split("-")[1]))
    assert dirs[-1] == "checkpoint-30"
    # and accelerate's load_state stops on it (the scripts' load hook takes the LoRA weights itself)
    from accelerate import Accelerator

    acc = Accelerator(cpu=True)
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=LR)
    sch = torch.optim.lr_scheduler.StepLR(opt, step_size=1000)  # plain __dict__.update on load
    model, opt, sch = acc.prepare(model, opt, sch)
    acc.register_load_state_pre_hook(lambda models, input_dir: models.clear())
    acc.load_state(str(base / "checkpoint-20"))
    assert sch.scheduler.last_epoch == 20
    with pytest.raises(FileNotFoundError, match="scheduler.bin"):
        acc.load_state(str(partial))
