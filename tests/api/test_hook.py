"""The accelerate hook with a real Accelerator on CPU: a bad checkpoint is refused before load_state reads
anything, a good one loads, repair mode fixes the checkpoint and then loads it."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator

import ckptfix
from ckptfix.schedulers import Sine
from tests.helpers import FIXTURES, tree_hashes


class TinyNet(torch.nn.Module):
    """The fixtures' model (fixtures/generate.py): 4 -> 3 -> 2."""

    def __init__(self) -> None:
        super().__init__()
        self.proj_in = torch.nn.Linear(4, 3)
        self.proj_out = torch.nn.Linear(3, 2)


def fresh():
    """A fresh run as a training script builds it before resuming (the fixtures' T_0 = 10, eta_min = 1e-6)."""
    acc = Accelerator(cpu=True)
    model = TinyNet()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-2)
    sched = Sine(opt, T_0=10, T_mult=1, eta_min=1e-6)
    model, opt, sched = acc.prepare(model, opt, sched)
    return acc, model, opt, sched


def snapshot(model, opt, sched):
    return ({k: v.clone() for k, v in model.state_dict().items()}, repr(opt.state_dict()), dict(sched.scheduler.state_dict()))


def copy(tmp_path: Path, name: str) -> Path:
    shutil.copytree(FIXTURES / name, tmp_path / name)
    return tmp_path / name / "checkpoint-30"


def test_a_bad_checkpoint_is_refused_before_load_state_reads_it(tmp_path):
    ck = copy(tmp_path, "sine-v1")
    files = tree_hashes(ck)
    acc, model, opt, sched = fresh()
    before = snapshot(model, opt, sched)
    handle = ckptfix.guard_load_state(acc)
    with pytest.raises(ckptfix.CheckpointRefused) as info:
        acc.load_state(str(ck))
    err = info.value
    assert [f.code for f in err.findings if f.severity == "error"] == ["CKF030", "CKF115"]  # + v1's lr in optimizer.bin
    assert "CKF030" in str(err) and "fix: ckptfix repair" in str(err) and str(ck) in str(err)
    assert err.result.exit_code == 1
    # nothing was loaded: the model, the optimizer and the scheduler are the fresh ones
    after = snapshot(model, opt, sched)
    assert all(torch.equal(before[0][k], after[0][k]) for k in before[0]) and before[1:] == after[1:]
    assert tree_hashes(ck) == files  # and the checkpoint is untouched
    handle.remove()
    acc.load_state(str(ck))  # without the guard accelerate loads the v1 state as it is
    assert sched.scheduler.state_dict()["_last_lr"] == [5.0499e-05]


def test_a_good_checkpoint_loads(tmp_path):
    ck = copy(tmp_path, "sine-ok")
    acc, model, opt, sched = fresh()
    ckptfix.guard_load_state(acc)
    acc.load_state(str(ck))
    assert sched.scheduler.state_dict()["last_epoch"] == 30
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-4)


def test_repair_mode_fixes_then_loads(tmp_path):
    ck = copy(tmp_path, "sine-v2")
    acc, model, opt, sched = fresh()
    ckptfix.guard_load_state(acc, repair=True, optimizer_lr=True)
    acc.load_state(str(ck))
    state = sched.scheduler.state_dict()
    assert state["_last_lr"] == [1e-4] and state["T_cur"] == 0 and "total_steps" not in state
    assert opt.param_groups[0]["lr"] == 1e-4  # --optimizer-lr: the first step after the resume is right too
    assert len(list((ck / ".ckptfix").glob("backup-*"))) == 1  # undo: ckptfix restore


def test_repair_mode_refuses_what_it_cannot_fix(tmp_path):
    ck = copy(tmp_path, "missing-scheduler")
    acc, model, opt, sched = fresh()
    handle = ckptfix.guard_load_state(acc, repair=True)  # creating scheduler.bin needs lr_warmup_steps
    with pytest.raises(ckptfix.CheckpointRefused) as info:
        acc.load_state(str(ck))
    assert "CKF001" in str(info.value) and "lr_warmup_steps=" in str(info.value)
    assert info.value.repair is not None and not (ck / "scheduler.bin").exists()
    handle.remove()
    ckptfix.guard_load_state(acc, repair=True, lr_warmup_steps=10, lr_end=1e-6)
    acc.load_state(str(ck))
    assert sched.scheduler.state_dict()["T_0"] == 10 and sched.scheduler.state_dict()["last_epoch"] == 30


def test_latest_with_automatic_naming_is_the_folder_checked(tmp_path):
    from accelerate.utils import ProjectConfiguration

    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "sine-v1" / "checkpoint-30", project / "checkpoints" / "checkpoint_0")
    acc = Accelerator(cpu=True, project_config=ProjectConfiguration(str(project), automatic_checkpoint_naming=True))
    model = TinyNet()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model, opt, sched = acc.prepare(model, opt, Sine(opt, T_0=10, eta_min=1e-6))
    ckptfix.guard_load_state(acc)
    with pytest.raises(ckptfix.CheckpointRefused, match="checkpoint_0"):
        acc.load_state()


def test_the_hook_takes_the_trainer_and_the_target(tmp_path):
    """A stock SimpleTuner user (v2 sine) states it as on the command line: the v2 checkpoint is not refused
    (without them the hook refused every v2 checkpoint: CKF031) and nothing is rewritten, even with repair."""
    ck = copy(tmp_path, "sine-v2")
    files = tree_hashes(ck)
    acc, _model, _opt, sched = fresh()
    handle = ckptfix.guard_load_state(acc)
    with pytest.raises(ckptfix.CheckpointRefused, match="CKF031"):
        acc.load_state(str(ck))
    handle.remove()
    ckptfix.guard_load_state(acc, repair=True, trainer="simpletuner==3.1.6", target="simpletuner-sine-v2")
    acc.load_state(str(ck))
    assert sched.scheduler.state_dict()["T_cur"] == -1  # v2's state, loaded as saved
    assert tree_hashes(ck) == files and not (ck / ".ckptfix").exists()


def test_the_hook_logs_what_it_repaired(tmp_path, caplog):
    ck = copy(tmp_path, "sine-v2")
    acc, _model, _opt, sched = fresh()
    ckptfix.guard_load_state(acc, repair=True, optimizer_lr=True)  # the first step's lr too (CKF115)
    with caplog.at_level(logging.INFO, logger="ckptfix"):
        acc.load_state(str(ck))
    (record,) = [r for r in caplog.records if r.name == "ckptfix" and r.levelno == logging.INFO]
    text = record.getMessage()
    assert f"ckptfix repaired {ck} before load_state" in text and "scheduler.bin total_steps: 30 -> (dropped)" in text
    (backup,) = (ck / ".ckptfix").glob("backup-*")
    assert str(backup) in text and f"ckptfix restore {ck}" in text
    assert sched.scheduler.state_dict()["T_cur"] == 0


def test_the_hook_warns_what_it_could_not_repair(tmp_path, caplog):
    ck = copy(tmp_path, "missing-scheduler")
    acc, *_ = fresh()
    ckptfix.guard_load_state(acc, repair=True)  # creating scheduler.bin needs lr_warmup_steps
    with caplog.at_level(logging.INFO, logger="ckptfix"), pytest.raises(ckptfix.CheckpointRefused):
        acc.load_state(str(ck))
    (record,) = [r for r in caplog.records if r.name == "ckptfix"]
    assert record.levelno == logging.WARNING and "could not repair" in record.getMessage()
    assert "--lr-warmup-steps" in record.getMessage()
