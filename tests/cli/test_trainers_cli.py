"""The gate on other trainers' folders and on SimpleTuner's latest rule (issue 11; issue 12 item 17):
kohya state folders and accelerate's auto-named checkpoints are found and checked (never a silent exit 0),
a rolling tie checks every folder the resume may pick, a name that breaks the rule fails the gate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ckptfix._cli import app  # noqa: PLC2701 - the tests drive the CLI's Typer app
from tests.helpers import FIXTURES, tree_hashes

OTHER = FIXTURES / "other_trainers"


def run(*args: object) -> tuple[int, dict | str]:
    r = CliRunner().invoke(app, [str(a) for a in args])
    if "--json" in args:
        return r.exit_code, json.loads(r.stdout)
    return r.exit_code, r.output


def test_accelerate_auto_named_checkpoints_are_checked(tmp_path):
    for path in (OTHER / "accelerate-auto", OTHER / "accelerate-auto" / "checkpoints"):
        code, doc = run("inspect", path, "--latest", "--json")
        assert code == 1  # three v2 states: findings, not "no checkpoint to check"
        assert [c["name"] for c in doc["checkpoints"]] == ["checkpoint_2"] and doc["trainer"] == "accelerate"
        (ck,) = doc["checkpoints"]
        assert ck["steps"]["chosen"] == 30 and ck["steps"]["source"] == "optimizer"
    code, doc = run("inspect", OTHER / "accelerate-auto", "--json", "--target", "simpletuner-sine-v2")
    assert code == 0 and len(doc["checkpoints"]) == 3  # what it runs, at N x step: consistent


def test_kohya_state_folders_are_checked_with_their_own_step():
    code, doc = run("inspect", OTHER / "kohya", "--json")
    assert code == 1 and doc["trainer"] == "kohya"
    steps = {c["name"]: (c["steps"]["chosen"], c["steps"]["source"]) for c in doc["checkpoints"]}
    assert steps == {"tiny-step00000010-state": (10, "train_state.json"), "tiny-step00000020-state": (20, "train_state.json"),
                     "tiny-000001-state": (8, "train_state.json"), "tiny-000002-state": (16, "train_state.json"),
                     "tiny-state": (24, "train_state.json")}
    code, doc = run("inspect", OTHER / "kohya", "--latest", "--json", "--target", "simpletuner-sine-v2")
    assert code == 0 and len(doc["checkpoints"]) == 5 and doc["latest"] is None  # no latest: every one
    assert "--resume" in doc["latest_reason"]


def test_diffusers_partial_latest_fails_the_gate():
    code, doc = run("inspect", OTHER / "diffusers", "--latest", "--json")
    assert code == 1 and doc["latest"].endswith("checkpoint-30") and doc["trainer"] == "diffusers"
    assert "CKF126" in [f["code"] for f in doc["checkpoints"][0]["findings"]]  # the scripts build a LambdaLR


def _run_folder(tmp_path: Path) -> Path:
    root = tmp_path / "out"
    shutil.copytree(FIXTURES / "output-run", root)
    return root


def test_rolling_tie_checks_both_and_says_why(tmp_path):
    root = _run_folder(tmp_path)
    shutil.copytree(root / "checkpoint-30", root / "checkpoint-30-rolling")
    code, doc = run("inspect", root, "--latest", "--json")
    assert code == 0 and doc["latest"] is None
    assert [Path(p).name for p in doc["latest_candidates"]] == ["checkpoint-30", "checkpoint-30-rolling"]
    assert "os.listdir" in doc["latest_reason"]
    for ck in doc["checkpoints"]:
        assert [f["code"] for f in ck["findings"]] == ["CKF112"]
    # the two differ: the worst wins, and repair --latest repairs the bad one
    shutil.copyfile(FIXTURES / "sine-v1/checkpoint-30/scheduler.bin", root / "checkpoint-30-rolling" / "scheduler.bin")
    code, doc = run("inspect", root, "--latest", "--json")
    assert code == 1 and [c["verdict"] for c in doc["checkpoints"]] == ["consistent", "findings"]
    assert run("repair", root, "--latest")[0] == 0
    assert run("inspect", root, "--latest")[0] == 0


def test_a_name_that_breaks_simpletuners_rule_fails_the_gate(tmp_path):
    root = _run_folder(tmp_path)
    (root / "checkpoints").mkdir()  # SimpleTuner's latest rule raises on it and starts a new run
    code, doc = run("inspect", root, "--latest", "--json")
    assert code == 1 and doc["latest"] is None and "new training run" in doc["latest_issue"]
    (ck,) = doc["checkpoints"]
    (f,) = ck["findings"]
    assert f["code"] == "CKF113" and ck["name"] == "checkpoint-30"
    before = tree_hashes(root)
    code, out = run("repair", root, "--latest")
    assert code == 1 and tree_hashes(root) == before and "CKF113" in out
    (root / "checkpoints").rmdir()
    assert run("inspect", root, "--latest")[0] == 0


def test_bad_trainer_and_target_are_usage_errors(tmp_path):
    assert run("inspect", FIXTURES / "sine-ok", "--trainer", "simpletuner~=4")[0] == 2
    assert run("inspect", FIXTURES / "sine-ok", "--trainer", "simpletuner<1")[0] == 2
    assert run("repair", FIXTURES / "sine-ok", "--target", "cosine")[0] == 2


def test_installed_release_is_used_when_the_releases_disagree():
    """ckptfix runs where SimpleTuner 3.1.6 is installed (the README's test command installs it): the
    releases disagree on this checkpoint (epoch_step 22 at step 20), so the installed one decides."""
    import importlib.util
    import os

    import pytest

    if importlib.util.find_spec("simpletuner") is None and not os.environ.get("CI"):
        pytest.skip("simpletuner 3.1.6 not installed")
    code, doc = run("inspect", FIXTURES / "simpletuner_runs/b-n1-7-batches-per-epoch/fixed/checkpoint-20", "--json")
    (ck,) = doc["checkpoints"]
    assert code == 1 and ck["trainer"]["source"] == "simpletuner 3.1.6 installed here"
    assert [r["label"] for r in ck["trainer"]["releases"]] == ["SimpleTuner 1.0 to < 4.9.3"]
    code, doc = run("inspect", FIXTURES / "output-run" / "checkpoint-30", "--json")  # they agree: no lookup needed
    assert code == 0 and doc["checkpoints"][0]["trainer"]["source"].startswith("every modelled release")


def test_only_skipped_or_unrecognised_folders_is_never_exit_0(tmp_path):
    """-tmp folders and names no trainer resumes: "nothing to resume" (exit 4, #12), saying why for each."""
    root = tmp_path / "out"
    (root / "checkpoint-40-tmp").mkdir(parents=True)
    shutil.copytree(FIXTURES / "sine-ok" / "checkpoint-30", root / "checkpoint-best")
    (root / "notes-state").mkdir()  # named like a kohya state folder, holds nothing
    for latest in ([], ["--latest"]):
        code, doc = run("inspect", root, *latest, "--json")
        assert code == 4 and doc["checkpoints"] == []
        reasons = {Path(s["path"]).name: s["reason"] for s in doc["skipped"]}
        assert set(reasons) == {"checkpoint-40-tmp", "checkpoint-best", "notes-state"}
    assert "new training run" in doc["latest_issue"]  # SimpleTuner's rule fails on checkpoint-best
    empty_auto = tmp_path / "proj"
    (empty_auto / "checkpoints").mkdir(parents=True)
    assert run("inspect", empty_auto, "--latest")[0] == 4


def _not_folder(root: Path, kind: str) -> Path:
    """``root/checkpoint-50`` as an entry that is no folder: a dangling symlink, a loop, or a plain file."""
    entry = root / "checkpoint-50"
    if kind == "dangling":
        entry.symlink_to(root.parent / "moved-away" / "checkpoint-50")
    elif kind == "loop":
        entry.symlink_to("checkpoint-50")
    else:
        entry.write_text("not a checkpoint\n")
    return entry


@pytest.mark.parametrize("kind", ["dangling", "loop", "file"])
def test_a_latest_that_is_no_folder_is_a_finding_not_a_first_launch(tmp_path, kind):
    """Issue 19 item 7: SimpleTuner's rule picks checkpoint-50 by its name; the gate said "nothing to resume ...
    start training" (exit 4), which throws the run away. Now: a finding on the entry (exit 1), naming it and
    saying to move it away; repair refuses and writes nothing; once moved, checkpoint-30 is the latest."""
    root = _run_folder(tmp_path)
    entry = _not_folder(root, kind)
    code, doc = run("inspect", root, "--latest", "--json")
    assert code == 1, doc
    (ck,) = doc["checkpoints"]
    assert ck["name"] == "checkpoint-50" and doc["latest"] == str(entry)
    (f,) = ck["findings"]
    what = {"dangling": "a dangling symbolic link", "loop": "a symbolic link loop", "file": "a regular file"}[kind]
    assert f["code"] == "CKF116" and f["severity"] == "error" and what in f["message"]
    assert "Move it out of the output folder" in f["message"]
    code, doc = run("inspect", root, "--json")  # every checkpoint: the latest entry is among them
    assert code == 1 and [c["name"] for c in doc["checkpoints"]][-1] == "checkpoint-50"
    before = tree_hashes(root)
    code, out = run("repair", root, "--latest")
    assert code == 1 and "CKF116" in out and tree_hashes(root) == before
    entry.unlink()
    code, doc = run("inspect", root, "--latest", "--json")
    assert code == 0 and doc["checkpoints"][0]["name"] == "checkpoint-30"


def test_simpletuners_own_rule_picks_the_entry_and_its_resume_fails(tmp_path):
    """What the finding says, with SimpleTuner 3.1.6's CheckpointManager and accelerate's load_state."""
    manager = pytest.importorskip("simpletuner.helpers.utils.checkpoint_manager")
    accelerate = pytest.importorskip("accelerate")
    root = _run_folder(tmp_path)
    for kind in ("dangling", "loop", "file"):
        entry = _not_folder(root, kind)
        assert manager.CheckpointManager(str(root)).get_latest_checkpoint() == "checkpoint-50"
        with pytest.raises(ValueError, match="folder does not exist"):
            accelerate.Accelerator(cpu=True).load_state(str(entry))
        entry.unlink()
    assert manager.CheckpointManager(str(root)).get_latest_checkpoint() == "checkpoint-30"


def test_the_trainer_that_keeps_folders_only_skips_the_entry(tmp_path):
    """transformers' get_last_checkpoint keeps os.path.isdir names: a file checkpoint-50 is not its pick."""
    root = tmp_path / "hf"
    shutil.copytree(FIXTURES / "trainers" / "hf-trainer-tf5", root)
    _not_folder(root, "file")
    code, doc = run("inspect", root, "--latest", "--json")
    assert code == 0 and [c["name"] for c in doc["checkpoints"]] == ["checkpoint-8"]


def test_a_symlinked_checkpoint_folder_is_read_where_it_leads(tmp_path):
    """A checkpoint folder that is a symbolic link (to outside the output folder): read and repaired there, as
    the trainer resumes it, and said (CKF118, info: the exit code is the checkpoint's own)."""
    root = tmp_path / "out"
    root.mkdir()
    elsewhere = tmp_path / "other-disk" / "checkpoint-30"
    shutil.copytree(FIXTURES / "sine-v1" / "checkpoint-30", elsewhere)
    (root / "checkpoint-30").symlink_to(elsewhere)
    code, doc = run("inspect", root, "--latest", "--json")
    (ck,) = doc["checkpoints"]
    codes = [f["code"] for f in ck["findings"]]
    assert code == 1 and "CKF030" in codes and "CKF118" in codes
    (link,) = [f for f in ck["findings"] if f["code"] == "CKF118"]
    assert link["severity"] == "info" and str(elsewhere) in link["message"]
    assert run("repair", root, "--latest", "--optimizer-lr")[0] == 0
    assert (elsewhere / ".ckptfix").is_dir() and (root / "checkpoint-30").is_symlink()
    code, doc = run("inspect", root, "--latest", "--json")
    assert code == 0 and "CKF118" in [f["code"] for f in doc["checkpoints"][0]["findings"]]
