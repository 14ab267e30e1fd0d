from __future__ import annotations

from pathlib import Path

import pytest

from ckptfix.errors import PathMissing, UsageError
from ckptfix.model.discover import checkpoint_number, discover, targets
from tests.helpers import FIXTURES


def _mk(root: Path, *names: str) -> None:
    for n in names:
        (root / n).mkdir(parents=True)
        (root / n / "optimizer.bin").write_bytes(b"")


def test_latest_is_highest_n_not_tmp(tmp_path: Path) -> None:
    _mk(tmp_path, "checkpoint-100", "checkpoint-20", "checkpoint-300-tmp", "checkpoint-250-rolling")
    d = discover(tmp_path)
    assert [p.name for p in d.checkpoints] == ["checkpoint-20", "checkpoint-100", "checkpoint-250-rolling"]
    assert d.latest.name == "checkpoint-250-rolling"  # numeric, not lexical order
    assert [s.path.name for s in d.skipped] == ["checkpoint-300-tmp"]
    assert not d.is_single


def test_single_checkpoint_and_tmp(tmp_path: Path) -> None:
    _mk(tmp_path, "checkpoint-5", "checkpoint-6-tmp")
    d = discover(tmp_path / "checkpoint-5")
    assert d.is_single and d.checkpoints == (tmp_path / "checkpoint-5",)
    d = discover(tmp_path / "checkpoint-6-tmp")
    assert d.checkpoints == () and d.skipped[0].reason.startswith("being written")


def test_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(PathMissing, match="no such file"):  # exit 2, or 4 with --latest (docs/exit-codes.md)
        discover(tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(UsageError, match="not a folder"):
        discover(tmp_path / "file.txt")


def test_a_folder_without_checkpoints_selects_nothing(tmp_path: Path) -> None:
    """An empty output folder, or one holding other files: nothing to resume (exit 4), not a usage error."""
    (tmp_path / "empty").mkdir()
    d = discover(tmp_path / "empty")
    assert d.checkpoints == () and d.skipped == () and d.latest is None and not targets(d, True)
    (tmp_path / "empty" / "logs").mkdir()
    assert discover(tmp_path / "empty").checkpoints == ()


def test_checkpoint_number() -> None:
    assert checkpoint_number("checkpoint-42") == 42
    assert checkpoint_number("checkpoint-42-rolling") == 42
    assert checkpoint_number("checkpoints") is None
    assert checkpoint_number("checkpoint-x") is None


# --- every layout the trainers write, and each trainer's "latest" (issue 11; issue 12 item 17) -----------
OTHER = FIXTURES / "other_trainers"


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_kohya_state_folders_are_found_and_none_is_guessed_latest() -> None:
    d = discover(OTHER / "kohya")
    assert d.trainer == "kohya" and [p.name for p in d.checkpoints] == [
        "tiny-000001-state", "tiny-000002-state", "tiny-state", "tiny-step00000010-state", "tiny-step00000020-state"]
    assert d.latest is None and not d.latest_sure and set(d.picks) == set(d.checkpoints)
    assert "--resume" in d.latest_reason


@pytest.mark.parametrize("sub", ["", "checkpoints"])
def test_accelerate_automatic_naming(tmp_path: Path, sub: str) -> None:
    root = _copy(OTHER / "accelerate-auto", tmp_path / "run")
    for i in (3, 10):  # numeric, not lexical: checkpoint_10 is the newest
        _copy(root / "checkpoints" / "checkpoint_2", root / "checkpoints" / f"checkpoint_{i}")
    d = discover(root / sub if sub else root)
    assert d.trainer == "accelerate" and d.latest == root / "checkpoints" / "checkpoint_10" and d.latest_sure
    assert [p.name for p in d.checkpoints] == ["checkpoint_0", "checkpoint_1", "checkpoint_2", "checkpoint_3", "checkpoint_10"]


def test_diffusers_partial_checkpoint_is_their_latest() -> None:
    d = discover(OTHER / "diffusers")
    assert d.trainer == "diffusers" and d.latest == OTHER / "diffusers" / "checkpoint-30"


def test_rolling_tie_checks_every_folder_the_resume_may_pick(tmp_path: Path) -> None:
    _mk(tmp_path, "checkpoint-20", "checkpoint-30", "checkpoint-30-rolling")
    (tmp_path / "checkpoint-30" / "training_state.json").write_text("{}")
    d = discover(tmp_path)
    assert d.trainer == "simpletuner" and d.latest is None and not d.latest_sure
    assert [p.name for p in d.picks] == ["checkpoint-30", "checkpoint-30-rolling"]
    assert "os.listdir" in d.latest_reason


def test_a_name_that_breaks_simpletuners_rule_is_an_issue(tmp_path: Path) -> None:
    _mk(tmp_path, "checkpoint-20", "checkpoint-30")
    (tmp_path / "checkpoint-30" / "training_state.json").write_text("{}")
    (tmp_path / "checkpoints").mkdir()
    d = discover(tmp_path)
    assert [p.name for p in d.picks] == ["checkpoint-30"] and d.latest is None
    assert "new training run" in d.latest_issue and "checkpoints" in d.latest_issue


def test_trainer_given_overrides_detection(tmp_path: Path) -> None:
    from ckptfix.model.trainers import DIFFUSERS

    _mk(tmp_path, "checkpoint-20", "checkpoint-30-tmp")
    assert discover(tmp_path).latest.name == "checkpoint-20"  # -rolling/-tmp names say SimpleTuner
    d = discover(tmp_path, trainer=DIFFUSERS)  # the diffusers scripts would pick the -tmp folder
    assert d.trainer_source == "--trainer" and d.picks == () and "checkpoint-30-tmp" in d.latest_issue


def test_single_folders_of_other_trainers(tmp_path: Path) -> None:
    d = discover(OTHER / "kohya" / "tiny-state")
    assert d.is_single and d.trainer == "kohya"
    d = discover(OTHER / "accelerate-auto" / "checkpoints" / "checkpoint_1")
    assert d.is_single and d.trainer == "accelerate"


def test_an_output_folder_named_checkpoints_holds_checkpoint_n_folders(tmp_path: Path) -> None:
    """``--output_dir checkpoints``: its checkpoint-N folders are the run's, not accelerate's automatic naming
    (only a checkpoint_<i> inside makes ``checkpoints/`` that)."""
    _mk(tmp_path / "checkpoints", "checkpoint-10", "checkpoint-20")
    d = discover(tmp_path / "checkpoints")
    assert [p.name for p in d.checkpoints] == ["checkpoint-10", "checkpoint-20"] and d.latest.name == "checkpoint-20"
    assert d.skipped == ()
