"""kohya's step accounting on resume (issue 21 item 4): how many steps the resumed run takes, with and without
``--skip_until_initial_step``, against what kohya's loop really does (fixtures/resumes/kohya_counts.json: 216 resumes
of the replicated train_network.py loop under real accelerate; fixtures/resumes/kohya: the ground-truth cases)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ckptfix.analysis.report import Options
from ckptfix.analysis.run import inspect_one
from ckptfix.analysis.step_count import resume_counts
from ckptfix.model.trainers.kohya import count_resumed_steps
from tests.helpers import FIXTURES

RESUMES = FIXTURES / "resumes"
KOHYA = RESUMES / "kohya"
MEASURED = json.loads((RESUMES / "kohya_counts.json").read_text())["resumes"]


def test_the_count_is_kohyas_on_every_measured_resume() -> None:
    assert len(MEASURED) >= 200
    wrong = []
    for r in MEASURED:
        got = count_resumed_steps(r["current_step"], r["max_train_steps"], r["batches_per_epoch"],
                                  r["gradient_accumulation_steps"], r["skip_until_initial_step"])
        if got != (r["kohya_global_step_at_start"], r["epoch_to_start"], got[2], r["steps_taken"]):
            wrong.append((r, got))
    assert not wrong, wrong[:3]
    # the measurements hold every outcome: both launches following, only one, neither
    outcomes = {(r["skip_until_initial_step"], r["steps_taken"] == r["max_train_steps"] - r["current_step"])
                for r in MEASURED}
    assert outcomes == {(False, True), (False, False), (True, True), (True, False)}


def _case(name: str) -> tuple[Path, dict]:
    doc = json.loads((KOHYA / name / "truth.json").read_text())
    return KOHYA / name / doc["output_dir"], doc


@pytest.mark.parametrize("name", sorted(p.name for p in KOHYA.iterdir() if (p / "truth.json").is_file()))
def test_the_count_of_each_ground_truth_case(name: str) -> None:
    """The stated launch's count is the real resume's: the steps it took and the steps that remained."""
    path, doc = _case(name)
    skip = "--skip-until-initial-step" in doc["ckptfix_args"]
    report = inspect_one(path, Options(skip_until_initial_step=skip))
    rc = resume_counts(report.checkpoint, report.trainer, report.steps.chosen)[skip]
    taken = sum(1 for lr in doc["resumed_lrs"] if lr is not None)
    remained = sum(1 for lr in doc["expected_lrs"] if lr is not None)
    assert (rc.takes, rc.remaining) == (taken, remained)
    codes = {f.code for f in report.findings}
    assert ("CKF141" in codes) == (taken != remained)


def test_unstated_launch_explains_both() -> None:
    path, _doc = _case("cosine-step4-skip")
    f, = [f for f in inspect_one(path, Options()).findings if f.code == "CKF142"]
    assert f.severity == "error"
    assert "Without --skip_until_initial_step (kohya's default)" in f.message and "20 steps where 16 remain" in f.message
    assert "With --skip_until_initial_step" in f.message and "16 steps where 16 remain" in f.message
    assert "--skip-until-initial-step or --no-skip-until-initial-step" in f.message
    assert inspect_one(path, Options(skip_until_initial_step=True)).exit_code == 0
    f, = [f for f in inspect_one(path, Options(skip_until_initial_step=False)).findings if f.code == "CKF141"]
    assert "launch with --skip_until_initial_step instead" in f.message


def test_without_the_metadata_says_at_least(tmp_path: Path) -> None:
    """--no_metadata (or the weights moved away): the batches per epoch are not known; what is known is said, and
    the finding is a warning (it cannot tell whether the steps run over)."""
    path, _doc = _case("cosine-step12-skip")
    state = tmp_path / path.name
    shutil.copytree(path, state)  # the state folder alone, without the .safetensors beside it
    report = inspect_one(state, Options())
    assert report.checkpoint.run_config is None
    f, = [f for f in report.findings if f.code == "CKF142"]
    assert f.severity == "warning" and "at least the steps that remain" in f.message
    assert "tiny-step00000012.safetensors" in f.message
    rc = resume_counts(report.checkpoint, report.trainer, 12)[True]
    assert rc.follows is None and rc.takes is None


def test_a_state_at_or_past_max_train_steps_stops(tmp_path: Path) -> None:
    """kohya asserts max_train_steps > the stored step (L1252-1255) whatever the launch."""
    path, _doc = _case("cosine-step12-skip")
    state = tmp_path / path.name
    shutil.copytree(path, state)
    shutil.copy(path.parent / "tiny-step00000012.safetensors", tmp_path)
    (state / "train_state.json").write_text('{"current_epoch": 3, "current_step": 20}')
    report = inspect_one(state, Options(skip_until_initial_step=True, step=20))
    f, = [f for f in report.findings if f.code == "CKF141"]
    assert "AssertionError" in f.message and f.severity == "error"


def test_other_trainers_count_nothing() -> None:
    ck = RESUMES / "transformers" / "linear" / "output" / "checkpoint-8"
    report = inspect_one(ck, Options(skip_until_initial_step=True))
    assert resume_counts(report.checkpoint, report.trainer, 8) == {}
