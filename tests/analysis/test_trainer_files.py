"""The files the transformers Trainer's own resume needs (issue 21 item 4), on checkpoints its own code wrote
(fixtures/resumes/transformers, transformers 5.24.0) and resumed: CKF140 where it loads neither optimizer.pt nor
scheduler.pt (the schedule starts again), CKF004 where trainer_state.json is missing (the resume raises), and a
half-written save read as the Trainer's, not as accelerate's."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ckptfix.analysis.report import Options
from ckptfix.analysis.run import inspect_one
from ckptfix.analysis.trainer_files import trainer_file_findings
from ckptfix.model.load import load_checkpoint
from ckptfix.model.trainers import TRANSFORMERS
from ckptfix.records import replace
from tests.helpers import FIXTURES

CASES = FIXTURES / "resumes" / "transformers"


def _codes(path: Path, **opts) -> list[str]:
    return sorted(f.code for f in inspect_one(path, Options(**opts)).findings if f.severity != "info")


@pytest.mark.parametrize(("case", "missing"), [
    ("optimizer-pt-deleted", "optimizer.pt"), ("scheduler-pt-deleted", "scheduler.pt"),
    ("save-only-model", "optimizer.pt and scheduler.pt")])
def test_one_of_the_pair_missing_restarts_the_schedule(case: str, missing: str) -> None:
    """The real resume restarts the warmup at step 9 (truth.json); the finding says so, and replaces accelerate's
    CKF001 (scheduler.bin, created by repair), which the Trainer would not read."""
    report = inspect_one(CASES / case / "output" / "checkpoint-8", Options())
    assert report.checkpoint.layout == "hf-trainer" and report.checkpoint.trainer == "transformers"
    (f,) = [f for f in report.findings if f.code == "CKF140"]
    assert f.severity == "error" and f.message.startswith((missing, "training_args.bin")), f.message
    assert "from step 9" in f.message and "L3910-3931" in f.message
    assert "CKF001" not in {x.code for x in report.findings}
    assert report.exit_code == 1


def test_save_only_model_is_said_plainly() -> None:
    report = inspect_one(CASES / "save-only-model" / "output" / "checkpoint-8", Options())
    assert report.checkpoint.run_config.get("save_only_model") is True  # read from training_args.bin, never run
    (f,) = [f for f in report.findings if f.code == "CKF140"]
    assert f.message.startswith("training_args.bin says save_only_model=True")
    # a run that saves everything with a scheduler that keeps its own parameters: training_args.bin is not even
    # read (only when a file of the pair is missing, or a LambdaLR needs the schedule it names)
    assert load_checkpoint(CASES / "reduce-lr-on-plateau" / "output" / "checkpoint-8").run_config is None
    assert load_checkpoint(CASES / "linear" / "output" / "checkpoint-8").run_config is not None


def test_killed_before_trainer_state() -> None:
    """train(resume_from_checkpoint=True) picks checkpoint-8 and raises FileNotFoundError (truth.json)."""
    report = inspect_one(CASES / "killed-before-trainer-state" / "output" / "checkpoint-8", Options())
    (f,) = [f for f in report.findings if f.code == "CKF004"]
    assert f.file.endswith("trainer_state.json") and "FileNotFoundError" in f.message
    assert _codes(CASES / "killed-before-trainer-state" / "output" / "checkpoint-4") == []


@pytest.mark.parametrize("kept", [
    ("config.json", "generation_config.json", "model.safetensors", "training_args.bin"),  # killed after save_model
    ("config.json", "model.safetensors"),  # killed inside save_model (config.json is written first)
    ("config.json", "generation_config.json", "model.safetensors", "training_args.bin", "optimizer.pt"),
])
def test_a_half_written_save_is_the_trainers(tmp_path: Path, kept: tuple[str, ...]) -> None:
    """What a save killed on the way leaves (the Trainer's order: _save_checkpoint L3363-3417) is read as the
    Trainer's checkpoint and judged by what its resume does, not by accelerate's load_state."""
    src = CASES / "linear" / "output" / "checkpoint-8"
    ck = tmp_path / "checkpoint-8"
    ck.mkdir()
    for name in kept:
        shutil.copy(src / name, ck / name)
    report = inspect_one(ck, Options())
    assert report.checkpoint.layout == "hf-trainer" and report.checkpoint.trainer == "transformers"
    codes = {f.code for f in report.findings}
    assert {"CKF004", "CKF140"} <= codes and "CKF001" not in codes
    assert all(not f.message.startswith(("optimizer.bin", "scheduler.bin")) for f in report.findings)


def test_config_json_alone_is_not_the_trainers_outside_checkpoint_n() -> None:
    names = frozenset({"config.json", "model.safetensors"})
    assert TRANSFORMERS.detect("checkpoint-8", names)
    assert not TRANSFORMERS.detect("epoch-3", names)
    assert not TRANSFORMERS.detect("checkpoint-8", names | {"random_states_0.pkl"})  # accelerate's save_state
    assert not TRANSFORMERS.detect("checkpoint-8", names | {"optimizer.bin"})


def test_with_deepspeed_the_pair_is_not_judged() -> None:
    """With DeepSpeed the engine restores the optimizer and the Trainer loads scheduler.pt on its own (L3899-3908)."""
    report = inspect_one(CASES / "optimizer-pt-deleted" / "output" / "checkpoint-8", Options())
    ck = report.checkpoint
    assert trainer_file_findings(ck, report.trainer, 8)
    assert trainer_file_findings(replace(ck, engine=object()), report.trainer, 8) == []
