"""The repair lock (issue #12 item 12): it carries its owner from the moment it exists; an empty, ownerless or
stale lock is cleared safely; a live one is respected."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ckptfix._cli import app  # noqa: PLC2701 - the tests drive the CLI's Typer app
from ckptfix.analysis.checks import analyse
from ckptfix.errors import LockHeld
from ckptfix.model.load import load_checkpoint
from ckptfix.repair import lock as lock_mod
from ckptfix.repair.apply import apply_plan
from ckptfix.repair.lock import GRACE_SECONDS, acquire_lock, release_lock
from ckptfix.repair.plan import plan_repair
from tests.helpers import FIXTURES


def copy(tmp_path: Path, name: str = "sine-v1") -> Path:
    shutil.copytree(FIXTURES / name, tmp_path / name)
    return tmp_path / name / "checkpoint-30"


def plan(ck: Path):
    return plan_repair(analyse(load_checkpoint(ck)))


def work_files(ck: Path) -> list[str]:
    d = ck / ".ckptfix"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_full_disk_leaves_no_lock(tmp_path: Path) -> None:
    """A real failing write (RLIMIT_FSIZE = 0: every write fails with EFBIG, as on a full disk): the lock is
    never created, so no later repair is blocked by an empty one."""
    ck = copy(tmp_path)
    (ck / ".ckptfix").mkdir()
    pid = os.fork()
    if pid == 0:
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
            try:
                acquire_lock(ck)
            except OSError:
                os._exit(7)
            os._exit(0)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 7
    assert work_files(ck) == []  # no lock, no temporary lock file
    assert apply_plan(plan(ck)).status == "applied"


def test_the_lock_holds_its_owner_when_it_appears(tmp_path: Path, monkeypatch) -> None:
    ck = copy(tmp_path)
    seen = []
    real_link = os.link

    def link(src, dst, *a, **kw):
        seen.append(json.loads(Path(src).read_text()))  # what the lock will hold at its first instant
        return real_link(src, dst, *a, **kw)

    monkeypatch.setattr(lock_mod.os, "link", link)
    lock = acquire_lock(ck)
    assert seen and seen[0]["pid"] == os.getpid() and json.loads(lock.read_text()) == seen[0]
    assert work_files(ck) == ["lock"]
    release_lock(lock)
    assert work_files(ck) == []


def test_an_old_empty_lock_is_cleared(tmp_path: Path) -> None:
    ck = copy(tmp_path)
    (ck / ".ckptfix").mkdir()
    lock = ck / ".ckptfix" / "lock"
    lock.write_bytes(b"")
    old = time.time() - GRACE_SECONDS - 5
    os.utime(lock, (old, old))
    report = analyse(load_checkpoint(ck))
    assert [f.message.split(":")[0] for f in report.findings if f.code == "CKF005"] == [".ckptfix/lock"]
    res = apply_plan(plan(ck))
    assert res.status == "applied", res.error
    assert any("cleared an empty lock" in c for c in res.cleaned)
    assert "lock" not in work_files(ck)


def test_a_fresh_empty_lock_is_respected(tmp_path: Path) -> None:
    """An older ckptfix may be between creating its lock and writing it: wait, do not clear."""
    ck = copy(tmp_path)
    (ck / ".ckptfix").mkdir()
    (ck / ".ckptfix" / "lock").write_bytes(b"")
    res = apply_plan(plan(ck))
    assert res.status == "locked" and "Run again in a minute" in res.error


def test_a_stale_lock_of_a_dead_process_is_cleared(tmp_path: Path) -> None:
    ck = copy(tmp_path)
    (ck / ".ckptfix").mkdir()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)  # a pid that no longer runs
    (ck / ".ckptfix" / "lock").write_text(json.dumps({"pid": pid, "host": os.uname().nodename, "time": "then"}))
    res = apply_plan(plan(ck))
    assert res.status == "applied" and any("stale lock" in c and str(pid) in c for c in res.cleaned)


def test_a_live_or_foreign_host_lock_is_respected(tmp_path: Path) -> None:
    ck = copy(tmp_path)
    (ck / ".ckptfix").mkdir()
    for owner in ({"pid": os.getpid(), "host": os.uname().nodename, "time": "now"},
                  {"pid": 1, "host": "another-host", "time": "now"}):
        (ck / ".ckptfix" / "lock").write_text(json.dumps(owner))
        res = apply_plan(plan(ck))
        assert res.status == "locked" and "another repair" in res.error


def test_clearing_never_removes_a_lock_another_repair_just_took(tmp_path: Path, monkeypatch) -> None:
    """Between our look at a stale lock and our rename, another repair clears it and takes its own: the
    inode check puts that fresh lock back and we report it held."""
    ck = copy(tmp_path)
    d = ck / ".ckptfix"
    d.mkdir()
    lock = d / "lock"
    lock.write_text(json.dumps({"pid": 999_999_999, "host": os.uname().nodename, "time": "then"}))
    fresh = json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "time": "now"})
    real_rename = os.rename

    def racing_rename(src, dst):
        if Path(src) == lock:  # the other repair wins the race
            lock.unlink()
            (d / "other.tmp").write_text(fresh)
            os.link(d / "other.tmp", lock)
            (d / "other.tmp").unlink()
        return real_rename(src, dst)

    monkeypatch.setattr(lock_mod.os, "rename", racing_rename)
    with pytest.raises(LockHeld, match="another repair"):
        acquire_lock(ck)
    assert lock.read_text() == fresh and work_files(ck) == ["lock"]


def dead_pid() -> int:
    """A pid that no longer runs on this machine (a child that exited and was reaped)."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


@pytest.mark.parametrize("pid_here", ["dead", "alive"])
def test_a_lock_from_another_host_is_never_cleared_as_stale(tmp_path: Path, pid_here: str) -> None:
    """Checkpoints live on shared disks: a lock written on another host names a pid of that host, which
    says nothing here -- dead here or alive here, the lock is respected, byte for byte, nothing written."""
    ck = copy(tmp_path)
    (ck / ".ckptfix").mkdir()
    pid = dead_pid() if pid_here == "dead" else os.getpid()
    other = os.uname().nodename + "-other"
    lock = ck / ".ckptfix" / "lock"
    lock.write_text(json.dumps({"pid": pid, "host": other, "time": "20261206T101500.000000Z"}))
    before = lock.read_bytes()
    scheduler = (ck / "scheduler.bin").read_bytes()
    res = apply_plan(plan(ck))
    assert res.status == "locked" and not res.cleaned, res
    assert res.holder == f"pid {pid} on {other} since 20261206T101500.000000Z"
    assert "another host" in res.error and "never cleared as stale" in res.error
    assert lock.read_bytes() == before and work_files(ck) == ["lock"]
    assert (ck / "scheduler.bin").read_bytes() == scheduler
    # the same pid on this host: stale when dead (the host is what protects the other host's lock)
    lock.write_text(json.dumps({"pid": pid, "host": os.uname().nodename, "time": "then"}))
    assert apply_plan(plan(ck)).status == ("applied" if pid_here == "dead" else "locked")


def test_the_losing_repair_says_who_holds_the_lock_and_what_to_run_after_it(tmp_path: Path) -> None:
    """Not "ckptfix explain CKF030" (that repair cannot fix it is wrong: it could not run): who holds the
    lock, from the lock, and the same repair to run once that one has finished."""
    ck = copy(tmp_path)
    (ck / ".ckptfix").mkdir()
    host = os.uname().nodename
    (ck / ".ckptfix" / "lock").write_text(json.dumps({"pid": os.getpid(), "host": host, "time": "20261206T101500.000000Z"}))
    run = ck.parent
    res = CliRunner().invoke(app, ["repair", str(run), "--optimizer-lr"])
    assert res.exit_code == 1, res.output
    assert res.output.rstrip("\n").splitlines()[-3:] == [
        f"{run}: 1 locked; exit 1",
        f"another repair holds the lock of checkpoint-30: pid {os.getpid()} on {host} since 20261206T101500.000000Z; "
        "when it has finished, run:",
        f"→ ckptfix repair {run} --optimizer-lr"]
    doc = json.loads(CliRunner().invoke(app, ["repair", str(run), "--json"]).stdout)
    assert doc["checkpoints"][0]["status"] == "locked" and f"pid {os.getpid()} on {host}" in doc["checkpoints"][0]["error"]
