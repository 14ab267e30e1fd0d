"""What a killed repair leaves (issue #12 item 13): the next inspect reports it (CKF005), the next repair
removes what is provably its own and says so. The leftovers are made by real repairs, killed or starved."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ckptfix._cli import app
from ckptfix.analysis.checks import analyse
from ckptfix.analysis.report import Options
from ckptfix.formats.source.durable import sha256
from ckptfix.model.load import load_checkpoint
from ckptfix.repair.apply import apply_plan
from ckptfix.repair.plan import plan_repair
from tests.helpers import FIXTURES, in_forked_child

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
runner = CliRunner()


def copy(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "sine-v1", tmp_path / "run")
    return tmp_path / "run" / "checkpoint-30"


def in_child(ck: Path, fault) -> int:
    """Apply the --optimizer-lr repair of ``ck`` in a forked child (a kill there runs no cleanup at all)."""
    p = plan_repair(analyse(load_checkpoint(ck)), Options(optimizer_lr=True))
    return in_forked_child(lambda: apply_plan(p, fault=fault).status == "applied")


def leftovers(ck: Path) -> list[str]:
    return sorted(f.message.split(":")[0] for f in analyse(load_checkpoint(ck)).findings if f.code == "CKF005")


def test_a_killed_optimizer_patch_leaves_a_full_size_temp_that_repair_removes(tmp_path: Path) -> None:
    ck = copy(tmp_path)
    original = sha256(ck / "optimizer.bin")

    def kill(stage: str, path: Path) -> None:
        if stage == "replace" and path.name == "optimizer.bin":
            os._exit(17)

    assert in_child(ck, kill) == 17
    temps = [p for p in ck.iterdir() if ".ckptfix-tmp-" in p.name]
    assert len(temps) == 1 and temps[0].stat().st_size == (ck / "optimizer.bin").stat().st_size
    assert sha256(ck / "optimizer.bin") == original
    assert leftovers(ck) == [temps[0].name]
    res = runner.invoke(app, ["inspect", str(ck), "--json"])
    doc = json.loads(res.stdout)
    found = [f for f in doc["checkpoints"][0]["findings"] if f["code"] == "CKF005"]
    assert found and found[0]["severity"] == "warning" and "ckptfix repair` removes it" in found[0]["message"]
    res = runner.invoke(app, ["repair", str(ck), "--optimizer-lr"])
    assert res.exit_code == 0, res.output
    assert f"removed {temps[0].name}" in res.stdout and "stale lock" in res.stdout
    assert not temps[0].exists() and leftovers(ck) == []


def test_a_full_disk_during_backup_leaves_an_empty_backup_that_repair_removes(tmp_path: Path) -> None:
    """RLIMIT_FSIZE = 0 from the backup stage on: every write fails (EFBIG), as on a full disk."""
    ck = copy(tmp_path)
    before = {p.name: sha256(p) for p in ck.iterdir() if p.is_file()}

    def disk_full(stage: str, path: Path) -> None:
        if stage == "backup":
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    assert in_child(ck, disk_full) == 1  # failed, restored
    backups = list((ck / ".ckptfix").glob("backup-*"))
    assert len(backups) == 1 and [p.stat().st_size for p in backups[0].iterdir()] == [0]  # a 0-byte copy
    assert {p.name: sha256(p) for p in ck.iterdir() if p.is_file()} == before
    assert leftovers(ck) == [f".ckptfix/{backups[0].name}"]
    res = runner.invoke(app, ["repair", str(ck), "--optimizer-lr"])
    assert res.exit_code == 0 and f"removed .ckptfix/{backups[0].name}" in res.stdout, res.output
    assert not backups[0].exists() and leftovers(ck) == []


def test_leftovers_that_are_not_provably_ours_are_reported_and_kept(tmp_path: Path) -> None:
    ck = copy(tmp_path)
    b = ck / ".ckptfix" / "backup-20260101T000000.000000Z"
    b.mkdir(parents=True)
    (b / "notes.txt").write_text("the user's own file")  # not a name ckptfix writes
    (ck / "scheduler.bin.ckptfix-tmp-zz").write_bytes(b"x")  # not ckptfix's exact pattern
    assert leftovers(ck) == [".ckptfix/backup-20260101T000000.000000Z"]
    res = runner.invoke(app, ["inspect", str(ck)])
    assert "leaves it: look at it" in res.stdout
    res = runner.invoke(app, ["repair", str(ck), "--optimizer-lr"])
    assert res.exit_code == 0 and (b / "notes.txt").exists() and (ck / "scheduler.bin.ckptfix-tmp-zz").exists()


def test_a_complete_backup_is_never_a_leftover(tmp_path: Path) -> None:
    ck = copy(tmp_path)
    assert runner.invoke(app, ["repair", str(ck), "--optimizer-lr"]).exit_code == 0
    assert leftovers(ck) == [] and list((ck / ".ckptfix").glob("backup-*/manifest.json"))
    assert runner.invoke(app, ["inspect", str(ck), "--strict"]).exit_code == 0
