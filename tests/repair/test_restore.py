"""ckptfix restore: the last repair undone bit for bit (copy, removal, patch record), refusals, stacking."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ckptfix._cli import app  # noqa: PLC2701 - the tests drive the CLI's Typer app
from ckptfix.repair import restore as restore_module
from ckptfix.repair.restore import RESTORED_MARK, read_backups, restore_checkpoint
from tests.helpers import FIXTURES, tree_hashes

pytestmark = pytest.mark.smoke  # runs from the wheel on every Python, without torch (.ci/run)


def run(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


#: A plain repair of sine-v1 rewrites scheduler.bin only: optimizer.bin's v1 lr is left, and the first resumed step
#: would run at it (CKF115, an error): exit 1 until --optimizer-lr.
SCHEDULER_ONLY = 1


def copy(tmp_path: Path, name: str) -> Path:
    shutil.copytree(FIXTURES / name, tmp_path / name)
    return tmp_path / name / "checkpoint-30"


def list_backups(ck: Path):
    return read_backups(ck).backups


def files(ck: Path) -> dict[str, str]:
    """The checkpoint's files, without ckptfix's own folder."""
    return {k: v for k, v in tree_hashes(ck).items() if not k.startswith(".ckptfix")}


def test_scheduler_rewrite_and_optimizer_patch_restored_bit_for_bit(tmp_path):
    ck = copy(tmp_path, "sine-v2")
    before = files(ck)
    r = run("repair", ck, "--optimizer-lr")
    assert r.exit_code == 0, r.output
    repaired = files(ck)
    assert repaired["scheduler.bin"] != before["scheduler.bin"] and repaired["optimizer.bin"] != before["optimizer.bin"]
    r = run("restore", ck, "--dry-run")
    assert r.exit_code == 0 and "would be restored" in r.output and files(ck) == repaired
    r = run("restore", ck)
    assert r.exit_code == 0, r.output
    assert files(ck) == before
    assert not (ck / ".ckptfix" / "lock").exists()
    (backup,) = list_backups(ck)
    assert backup.restored is not None and (backup.path / RESTORED_MARK).is_file()
    r = run("restore", ck)  # nothing left to undo
    assert r.exit_code == 0 and "nothing to restore" in r.output and files(ck) == before


def test_each_file_is_read_three_times_by_a_restore(tmp_path, monkeypatch):
    """Before the lock, under it, and right after it is put back (that check is the result's): the result read
    every file a fourth time, a multi-GB optimizer.bin included."""
    ck = copy(tmp_path, "sine-v2")
    assert run("repair", ck, "--optimizer-lr").exit_code == 0
    real, seen = restore_module._check, []
    monkeypatch.setattr(restore_module, "_check", lambda folder, e: seen.append(e.file) or real(folder, e))
    result = restore_checkpoint(ck)
    assert result.status == "restored" and [c.state for c in result.files] == ["original", "original"], result
    assert sorted(seen) == sorted(["optimizer.bin", "scheduler.bin"] * 3), seen


def test_created_scheduler_is_removed(tmp_path):
    ck = copy(tmp_path, "missing-scheduler")
    before = files(ck)
    assert run("repair", ck, "--lr-warmup-steps", "10", "--lr-end", "1e-6").exit_code == 0
    assert (ck / "scheduler.bin").is_file()
    r = run("restore", ck)
    assert r.exit_code == 0, r.output
    assert files(ck) == before and not (ck / "scheduler.bin").exists()


def test_stacked_repairs_are_undone_newest_first(tmp_path):
    ck = copy(tmp_path, "sine-v1")
    before = files(ck)
    assert run("repair", ck).exit_code == SCHEDULER_ONLY
    after_first = files(ck)
    assert run("repair", ck, "--optimizer-lr").exit_code == 0  # then the optimizer's lr
    assert files(ck)["optimizer.bin"] != before["optimizer.bin"]
    assert len(list_backups(ck)) == 2
    assert run("restore", ck).exit_code == 0
    assert files(ck) == after_first
    assert run("restore", ck).exit_code == 0
    assert files(ck) == before


def test_a_file_changed_since_the_repair_is_refused_and_nothing_is_touched(tmp_path):
    ck = copy(tmp_path, "sine-v2")
    assert run("repair", ck, "--optimizer-lr").exit_code == 0
    # The trainer resumed and saved again into the same folder: scheduler.bin is a third file now.
    shutil.copyfile(FIXTURES / "sine-ok" / "checkpoint-30" / "scheduler.bin", ck / "scheduler.bin")
    now = tree_hashes(ck)
    r = run("restore", ck)
    assert r.exit_code == 1
    assert "scheduler.bin is neither the repaired file nor the original" in r.output
    assert tree_hashes(ck) == now  # the optimizer, which could be restored, was not touched either


def test_a_killed_or_failing_restore_leaves_each_file_original_or_repaired(tmp_path):
    ck = copy(tmp_path, "sine-v2")
    before = files(ck)
    assert run("repair", ck, "--optimizer-lr").exit_code == 0
    repaired = files(ck)
    calls = []

    def fail_on_second(stage: str, path: Path) -> None:
        if stage == "restore":
            calls.append(path.name)
            if len(calls) == 2:
                raise RuntimeError("injected")

    res = restore_checkpoint(ck, fault=fail_on_second)
    assert res.status == "failed" and res.exit_code == 1 and "injected" in res.error
    assert calls == ["optimizer.bin", "scheduler.bin"]  # reverse order of the repair
    now = files(ck)
    assert now["optimizer.bin"] == before["optimizer.bin"] and now["scheduler.bin"] == repaired["scheduler.bin"]
    assert not (ck / ".ckptfix" / "lock").exists()
    assert list_backups(ck)[0].restored is None
    res = restore_checkpoint(ck)  # the rest, on the next run
    assert res.status == "restored" and files(ck) == before


def test_lock_held_by_a_repair_in_progress(tmp_path):
    ck = copy(tmp_path, "sine-v1")
    assert run("repair", ck).exit_code == SCHEDULER_ONLY
    repaired = files(ck)
    (ck / ".ckptfix" / "lock").write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "time": "now"}))
    res = restore_checkpoint(ck)
    assert res.status == "locked" and res.exit_code == 1 and files(ck) == repaired


def test_backup_without_the_repaired_hash_is_refused_unless_already_original(tmp_path):
    ck = copy(tmp_path, "sine-v1")
    assert run("repair", ck).exit_code == SCHEDULER_ONLY
    (backup,) = list_backups(ck)
    manifest = json.loads((backup.path / "manifest.json").read_text())
    for entry in manifest["files"]:
        del entry["sha256_new"]  # as an older ckptfix wrote it
    (backup.path / "manifest.json").write_text(json.dumps(manifest))
    res = restore_checkpoint(ck)
    assert res.status == "refused" and "restore it by hand" in res.error and "cp .ckptfix/" in res.error


def test_list_nothing_to_restore_and_usage_errors(tmp_path):
    ck = copy(tmp_path, "sine-v1")
    r = run("restore", ck)  # never repaired: nothing to restore is not a usage error
    assert r.exit_code == 0 and "nothing to restore" in r.stdout, r.output
    r = run("restore", ck, "--list")
    assert r.exit_code == 0 and "no ckptfix backup" in r.stdout, r.output
    for bad in (["--list", "--prune"], ["--backup", "backup-20260101T000000.000000Z", "--list"], ["--keep", "1"]):
        r = run("restore", ck, *bad)
        assert r.exit_code == 2, (bad, r.output)
    assert run("repair", ck).exit_code == SCHEDULER_ONLY
    r = run("restore", ck, "--list")
    assert r.exit_code == 0 and "backup-" in r.output and "ckptfix restore undoes it" in r.output
    name = list_backups(ck)[0].name
    assert run("restore", ck, "--backup", "backup-nope").exit_code == 2
    assert run("restore", ck.parent, "--latest", "--backup", name).exit_code == 0
    assert run("restore", tmp_path / "nope").exit_code == 2


def test_output_folder_restores_each_repaired_checkpoint(tmp_path):
    out = tmp_path / "out"
    for n in (30, 40):
        shutil.copytree(FIXTURES / "sine-v1" / "checkpoint-30", out / f"checkpoint-{n}")
    before = tree_hashes(out)
    assert run("repair", out / "checkpoint-40", "--step", "30").exit_code == SCHEDULER_ONLY
    r = run("restore", out)
    assert r.exit_code == 0, r.output
    assert "1 restored" in r.output
    assert {k: v for k, v in tree_hashes(out).items() if ".ckptfix" not in k} == before


def test_training_state_epoch_step_restored_bit_for_bit(tmp_path):
    """SimpleTuner < 4.10: repair sets training_state.json's epoch_step; restore puts the trainer's bytes back."""
    src = FIXTURES / "simpletuner_runs/b-n1-7-batches-per-epoch/fixed/checkpoint-20"
    ck = tmp_path / "checkpoint-20"
    shutil.copytree(src, ck)
    before = files(ck)
    r = run("repair", ck, "--trainer", "simpletuner==3.1.6")
    assert r.exit_code == 0, r.output
    assert files(ck)["training_state.json"] != before["training_state.json"]
    (backup,) = list_backups(ck)
    assert [(e.file, e.kind) for e in backup.entries] == [("training_state.json", "rewrite")]
    r = run("restore", ck, "--json")
    doc = json.loads(r.stdout)
    assert r.exit_code == 0 and doc["checkpoints"][0]["status"] == "restored", r.output
    assert doc["checkpoints"][0]["files"] == [{"file": "training_state.json", "action": "rewrite", "state": "original",
                                               "why": None, "created": False, "restored": True}]
    assert files(ck) == before


def test_json_nothing_to_restore(tmp_path):
    ck = copy(tmp_path, "sine-v1")
    r = run("restore", ck, "--json")
    doc = json.loads(r.stdout)
    assert r.exit_code == 0 and doc["nothing_to_restore"] is True and doc["status"] == "ok"
    assert doc["checkpoints"][0]["status"] == "none" and r.stderr == ""
    assert run("repair", ck).exit_code == SCHEDULER_ONLY
    doc = json.loads(run("restore", ck, "--json").stdout)
    assert doc["nothing_to_restore"] is False and doc["checkpoints"][0]["status"] == "restored"
    doc = json.loads(run("restore", ck, "--json").stdout)
    assert doc["nothing_to_restore"] is True and doc["checkpoints"][0]["status"] == "already"


def repaired_times(ck: Path, n: int) -> list[str]:
    """Repair ``ck`` and restore it, ``n`` times: ``n`` complete backups (oldest first)."""
    for _ in range(n):
        assert run("repair", ck).exit_code == SCHEDULER_ONLY
        assert run("restore", ck).exit_code == 0
    return [b.name for b in list_backups(ck)]


def test_prune_keeps_the_newest_and_removes_only_its_own(tmp_path):
    ck = copy(tmp_path, "sine-v1")
    names = repaired_times(ck, 4)
    work = ck / ".ckptfix"
    # not ckptfix's: a folder that is not named as repair names them, one whose manifest does not validate, one
    # holding a file of someone else's, one that is a symlink, a lock-like file
    (work / "backup-mine").mkdir()
    foreign = work / "backup-20000101T000000.000000Z"
    foreign.mkdir()
    (foreign / "manifest.json").write_text('{"files": [{"file": "model.safetensors"}]}')
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    (work / "backup-20000101T000001.000000Z").symlink_to(outside)
    shutil.copytree(work / names[0], work / "backup-20000101T000002.000000Z")
    (work / "backup-20000101T000002.000000Z" / "notes.txt").write_text("someone's notes")
    before = tree_hashes(tmp_path)

    r = run("restore", ck, "--prune", "--keep", "2", "--dry-run", "--json")
    doc = json.loads(r.stdout)
    item = doc["checkpoints"][0]
    assert r.exit_code == 0 and item["status"] == "dry-run", r.output
    assert item["removed"] == names[:2] and item["kept"] == names[2:]
    left = {x["name"]: x["why"] for x in item["left"]}
    assert set(left) == {"backup-20000101T000000.000000Z", "backup-20000101T000001.000000Z",
                         "backup-20000101T000002.000000Z"}
    assert "symlink" in left["backup-20000101T000001.000000Z"] and "did not write" in left["backup-20000101T000002.000000Z"]
    assert tree_hashes(tmp_path) == before

    r = run("restore", ck, "--prune", "--keep", "2")
    assert r.exit_code == 0 and "2 backups removed" in r.stdout, r.output
    assert sorted(p.name for p in work.iterdir() if p.name.startswith("backup-2026") or p.name in names) == names[2:]
    assert (work / "backup-mine").is_dir() and (foreign / "manifest.json").is_file()
    assert (outside / "keep.txt").read_text() == "mine" and (work / "backup-20000101T000001.000000Z").is_symlink()
    assert (work / "backup-20000101T000002.000000Z" / "notes.txt").is_file()
    assert not (work / "lock").exists()
    r = run("restore", ck, "--prune", "--keep", "2")
    assert r.exit_code == 0 and "0 backups removed" in r.stdout


def test_prune_keep_zero_and_the_lock(tmp_path):
    ck = copy(tmp_path, "sine-v1")
    repaired_times(ck, 1)
    (ck / ".ckptfix" / "lock").write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "time": "now"}))
    r = run("restore", ck, "--prune", "--keep", "0")
    assert r.exit_code == 1 and len(list_backups(ck)) == 1, r.output
    (ck / ".ckptfix" / "lock").unlink()
    r = run("restore", ck, "--prune", "--keep", "0")
    assert r.exit_code == 0 and list_backups(ck) == (), r.output
