"""durable.py and the actions on odd files: modes kept (issue #12 item 14), FIFOs and devices never read
(items 9, 11), another process's version never lost (item 15), NaN-aware rechecks (item 16)."""

from __future__ import annotations

import math
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from ckptfix.analysis.checks import analyse  # noqa: E402
from ckptfix.analysis.report import Options  # noqa: E402
from ckptfix.errors import UnreadableFile  # noqa: E402
from ckptfix.formats.source.durable import copy_durable, sha256  # noqa: E402
from ckptfix.model.load import load_checkpoint  # noqa: E402
from ckptfix.records import replace  # noqa: E402
from ckptfix.repair.actions.interface import same  # noqa: E402
from ckptfix.repair.apply import apply_plan  # noqa: E402
from ckptfix.repair.plan import plan_repair  # noqa: E402
from tests.helpers import FIXTURES  # noqa: E402


def copy(tmp_path: Path, name: str) -> Path:
    shutil.copytree(FIXTURES / name, tmp_path / name)
    return tmp_path / name / "checkpoint-30"


def plan(ck: Path, opts: Options = Options(), recreate: bool = False, optimizer_lr: bool = False):
    return plan_repair(analyse(load_checkpoint(ck), opts), replace(opts, recreate=recreate, optimizer_lr=optimizer_lr))


def mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def ckptfix(*args: object, timeout: float = 60) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "ckptfix"
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=timeout)


# -- item 14: modes (and owner where allowed) ----------------------------------------------------------

def test_rewrite_keeps_mode_and_owner_and_the_backup_is_not_more_readable(tmp_path: Path) -> None:
    ck = copy(tmp_path, "sine-v1")
    sched = ck / "scheduler.bin"
    os.chmod(sched, 0o600)
    if os.geteuid() == 0:
        os.chown(sched, 4321, 4321)
    res = apply_plan(plan(ck))
    assert res.status == "applied", res.error
    assert mode(sched) == 0o600 and mode(res.backup_dir / "scheduler.bin") == 0o600
    if os.geteuid() == 0:  # only root may give a file away
        assert (os.stat(sched).st_uid, os.stat(sched).st_gid) == (4321, 4321)


def test_create_over_an_unreadable_file_keeps_its_mode(tmp_path: Path) -> None:
    ck = copy(tmp_path, "hostile")
    os.chmod(ck / "scheduler.bin", 0o640)
    res = apply_plan(plan(ck, Options(lr_warmup_steps=10), recreate=True))
    assert res.status == "applied", res.error
    assert mode(ck / "scheduler.bin") == 0o640


def test_optimizer_patch_keeps_mode(tmp_path: Path) -> None:
    ck = copy(tmp_path, "sine-v1")
    os.chmod(ck / "optimizer.bin", 0o600)
    os.chmod(ck / "scheduler.bin", 0o604)
    res = apply_plan(plan(ck, optimizer_lr=True))
    assert res.status == "applied", res.error
    assert mode(ck / "optimizer.bin") == 0o600 and mode(ck / "scheduler.bin") == 0o604


def test_undo_keeps_mode(tmp_path: Path) -> None:
    ck = copy(tmp_path, "sine-v1")
    os.chmod(ck / "scheduler.bin", 0o600)
    before = sha256(ck / "scheduler.bin")

    def fail_verify(stage: str, path: Path) -> None:
        if stage == "verify":
            raise RuntimeError("injected")

    res = apply_plan(plan(ck), fault=fail_verify)
    assert res.status == "failed" and res.restored is True
    assert sha256(ck / "scheduler.bin") == before and mode(ck / "scheduler.bin") == 0o600


# -- items 9 and 11: FIFOs and devices are never read -------------------------------------------------

def test_guarded_reads_refuse_a_fifo_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "scheduler.bin"
    os.mkfifo(fifo)
    with pytest.raises(UnreadableFile, match="not a regular file"):
        sha256(fifo)
    with pytest.raises(UnreadableFile, match="not a regular file"):
        copy_durable(fifo, tmp_path / "copy")
    assert not (tmp_path / "copy").exists()
    with pytest.raises(UnreadableFile, match="not a regular file"):
        sha256(Path("/dev/zero"))


@pytest.mark.parametrize("odd", ["fifo", "dir", "device"])
def test_recreate_over_a_fifo_folder_or_device_refuses_without_hanging(tmp_path: Path, odd: str) -> None:
    ck = copy(tmp_path, "sine-ok")
    sched = ck / "scheduler.bin"
    sched.unlink()
    if odd == "fifo":
        os.mkfifo(sched)
    elif odd == "dir":
        sched.mkdir()
    else:
        try:
            os.mknod(sched, 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # what /dev/zero is
        except PermissionError:
            pytest.skip("mknod needs CAP_MKNOD")
    if odd == "fifo":  # the installed command, in a subprocess: its timeout guards against a hang
        p = ckptfix("repair", ck, "--recreate", "--lr-warmup-steps", "10")
        assert p.returncode == 3, p.stdout + p.stderr
        assert "not a regular file" in p.stdout and "Traceback" not in p.stdout + p.stderr
        assert ckptfix("inspect", ck).returncode == 3
    else:
        res = apply_plan(plan(ck, Options(lr_warmup_steps=10), recreate=True))
        assert res.status == "failed" and "not a regular file" in res.error
    assert not (ck / ".ckptfix" / "lock").exists()
    assert (sched.is_dir() if odd == "dir" else not sched.is_file())  # left as it was


# -- item 15: another process replaces the file ----------------------------------------------------------

def _other_version(path: Path) -> bytes:
    """Another program's scheduler.bin, put in place atomically (as a trainer saving would)."""
    state = torch.load(path, weights_only=True)
    state["other_writer"] = 1
    tmp = path.with_name("other-writer.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path.read_bytes()


@pytest.mark.parametrize("stage", ["build", "write", "replace", "verify"])
def test_a_file_replaced_by_another_process_is_never_overwritten(tmp_path: Path, stage: str) -> None:
    ck = copy(tmp_path, "sine-v1")
    theirs: list[bytes] = []

    def other_process(s: str, path: Path) -> None:
        if s == stage and path.name == "scheduler.bin":
            theirs.append(_other_version(path))

    res = apply_plan(plan(ck), fault=other_process)
    assert res.status == "failed" and "by another process" in res.error, res.error
    assert res.kept_foreign
    assert (ck / "scheduler.bin").read_bytes() == theirs[0]  # their version, not ours, not the original
    assert not [p for p in ck.iterdir() if "ckptfix-tmp" in p.name]
    assert not (ck / ".ckptfix" / "lock").exists()


@pytest.mark.parametrize("stage", ["replace", "verify"])
def test_an_optimizer_replaced_during_a_patch_is_kept(tmp_path: Path, stage: str) -> None:
    ck = copy(tmp_path, "sine-v1")
    theirs: list[bytes] = []

    def other_process(s: str, path: Path) -> None:
        if s == stage and path.name == "optimizer.bin":
            data = (FIXTURES / "sine-ok" / "checkpoint-30" / "optimizer.bin").read_bytes()
            (ck / "other.tmp").write_bytes(data)
            os.replace(ck / "other.tmp", path)
            theirs.append(data)

    res = apply_plan(plan(ck, optimizer_lr=True), fault=other_process)
    assert res.status == "failed" and "by another process" in res.error, res.error
    assert (ck / "optimizer.bin").read_bytes() == theirs[0]


# -- item 16: a NaN in a key the repair does not touch -----------------------------------------------------

def test_a_nan_in_an_unused_key_does_not_block_the_repair(tmp_path: Path) -> None:
    ck = copy(tmp_path, "sine-v1")
    state = torch.load(ck / "scheduler.bin", weights_only=True)
    state["unused_metric"] = float("nan")
    state["nested"] = [1.0, float("nan")]
    torch.save(state, ck / "scheduler.bin")
    res = apply_plan(plan(ck))
    assert res.status == "applied", res.error
    after = torch.load(ck / "scheduler.bin", weights_only=True)
    assert math.isnan(after["unused_metric"]) and math.isnan(after["nested"][1])
    left = analyse(load_checkpoint(ck)).findings  # the scheduler is right; optimizer.bin keeps v1's lr (no flag)
    assert [f.code for f in left if f.severity == "error"] == ["CKF115"]
    assert same(float("nan"), float("nan")) and not same(float("nan"), 1.0) and not same(1, 1.0)
