"""apply_plan: lock, backup, atomic write, verification, restore; failures injected between steps."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from ckptfix.analysis.checks import analyse  # noqa: E402
from ckptfix.analysis.report import Options  # noqa: E402
from ckptfix.formats.torchfile import open_torch_file  # noqa: E402
from ckptfix.model.load import load_checkpoint  # noqa: E402
from ckptfix.records import replace  # noqa: E402
from ckptfix.repair.actions.interface import same  # noqa: E402
from ckptfix.repair.apply import STAGES, apply_plan  # noqa: E402
from ckptfix.repair.plan import plan_repair  # noqa: E402
from ckptfix.repair.run import repair_path  # noqa: E402
from tests.helpers import FIXTURES as ROOT_FIXTURES  # noqa: E402
from tests.helpers import in_forked_child, kill_at  # noqa: E402

FIX = ROOT_FIXTURES


def copy(tmp_path: Path, name: str) -> Path:
    dst = tmp_path / name
    shutil.copytree(FIX / name, dst, symlinks=True)
    return dst / "checkpoint-30" if (dst / "checkpoint-30").exists() else dst


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): (digest(p) if p.is_file() else "dir")
            for p in sorted(root.rglob("*"))}


def make_plan(ck: Path, opts: Options = Options(), recreate: bool = False):
    return plan_repair(analyse(load_checkpoint(ck), opts), replace(opts, recreate=recreate))


def decoded(p: Path):
    with open_torch_file(p) as tf:
        return tf.obj


class Boom(RuntimeError):
    pass


def fail_at(stage: str):
    def hook(s: str, path: Path) -> None:
        if s == stage:
            raise Boom(f"injected at {stage}")
    return hook


def test_rewrite_backup_and_bit_for_bit_restore(tmp_path):
    ck = copy(tmp_path, "sine-v1")
    original = (ck / "scheduler.bin").read_bytes()
    others = {k: v for k, v in tree(ck).items() if k != "scheduler.bin"}
    res = apply_plan(make_plan(ck))
    assert res.status == "applied", res.error
    assert not (ck / ".ckptfix" / "lock").exists()
    backup = res.backup_dir / "scheduler.bin"
    assert backup.read_bytes() == original
    manifest = json.loads((res.backup_dir / "manifest.json").read_text())
    assert manifest["files"][0]["sha256"] == hashlib.sha256(original).hexdigest()
    # Only scheduler.bin and .ckptfix/ changed.
    after = tree(ck)
    assert {k: v for k, v in after.items() if k != "scheduler.bin" and not k.startswith(".ckptfix")} == others
    assert torch.load(ck / "scheduler.bin", weights_only=True)["_last_lr"] == [1e-4]
    left = analyse(load_checkpoint(ck)).findings  # the scheduler is right; optimizer.bin keeps v1's lr (no flag)
    assert [f.code for f in left if f.severity == "error"] == ["CKF115"]
    # The manifest's restore hint, run in the checkpoint as it says, gives the original bit for bit.
    hint = manifest["files"][0]["restore"]
    assert hint == f"cp .ckptfix/{res.backup_dir.name}/scheduler.bin scheduler.bin"
    subprocess.run(hint, shell=True, cwd=ck, check=True)
    assert (ck / "scheduler.bin").read_bytes() == original
    # Zip entries keep accelerate's "scheduler/" prefix.
    import zipfile
    assert all(n.startswith("scheduler/") for n in zipfile.ZipFile(ck / "scheduler.bin").namelist())


def test_second_repair_changes_no_byte(tmp_path):
    ck = copy(tmp_path, "sine-v2")
    assert apply_plan(make_plan(ck)).status == "applied"
    before = tree(ck)
    p = make_plan(ck)
    assert p.action == "nothing"
    assert apply_plan(p).status == "nothing"
    assert tree(ck) == before


def test_unknown_keys_keep_value_and_type(tmp_path):
    ck = copy(tmp_path, "sine-v1")
    state = torch.load(ck / "scheduler.bin", weights_only=True)
    extra = {"my_int": 7, "my_float": 2.5, "my_list": [1, 2.5, None], "my_str": "x", "my_none": None,
             "my_dict": {"a": 1, "b": [True]}, "my_bool": True}
    torch.save({**state, **extra}, ck / "scheduler.bin")
    assert apply_plan(make_plan(ck)).status == "applied"
    for loaded in (torch.load(ck / "scheduler.bin", weights_only=True), decoded(ck / "scheduler.bin")):
        for k, v in extra.items():
            assert same(loaded[k], v), k
        for k in set(state) - {"_last_lr"}:
            assert same(loaded[k], state[k]), k


@pytest.mark.parametrize("stage", STAGES)
def test_failure_at_each_stage_restores_the_original(tmp_path, stage):
    ck = copy(tmp_path, "stale-tcur")
    before = tree(ck)
    res = apply_plan(make_plan(ck), fault=fail_at(stage))
    assert res.status == "failed" and "injected" in res.error and res.restored is True
    after = tree(ck)
    assert {k: v for k, v in after.items() if not k.startswith(".ckptfix")} == before
    assert not (ck / ".ckptfix" / "lock").exists()
    assert not [p for p in ck.iterdir() if "ckptfix-tmp" in p.name]
    # The next repair works.
    assert apply_plan(make_plan(ck)).status == "applied"


@pytest.mark.parametrize("stage", STAGES)
def test_failure_while_creating_removes_the_new_file(tmp_path, stage):
    ck = copy(tmp_path, "missing-scheduler")
    opts = Options(lr_warmup_steps=10, lr_end=1e-6)
    res = apply_plan(make_plan(ck, opts), fault=fail_at(stage))
    assert res.status == "failed" and res.restored is True
    assert not (ck / "scheduler.bin").exists()
    assert not [p for p in ck.iterdir() if "ckptfix-tmp" in p.name]


def test_created_file_manifest_says_it_did_not_exist(tmp_path):
    ck = copy(tmp_path, "missing-scheduler")
    res = apply_plan(make_plan(ck, Options(lr_warmup_steps=10, lr_end=1e-6)))
    assert res.status == "applied", res.error
    (entry,) = json.loads((res.backup_dir / "manifest.json").read_text())["files"]
    assert entry["action"] == "create" and "sha256" not in entry
    assert entry["restore"] == "rm scheduler.bin  # did not exist before"
    assert entry["sha256_new"] == digest(ck / "scheduler.bin")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("stage", STAGES + ("done",))
def test_killed_at_each_stage_leaves_original_or_complete_new_file(tmp_path, stage):
    """A real kill (os._exit in a forked child: no except/finally runs) between any two steps."""
    ck = copy(tmp_path, "sine-v2")
    original = (ck / "scheduler.bin").read_bytes()
    p = make_plan(ck)
    target = p.actions[0].target

    code = in_forked_child(lambda: apply_plan(p, fault=kill_at(stage)).status == "applied")
    assert code == (0 if stage == "done" else 17)
    data = (ck / "scheduler.bin").read_bytes()
    if data != original:
        assert same(decoded(ck / "scheduler.bin"), target)
        assert same(torch.load(ck / "scheduler.bin", weights_only=True), target)
    if stage in ("lock", "recheck", "backup", "build", "write", "replace"):
        assert data == original
    if stage in ("verify", "done"):
        assert data != original
    if stage in ("lock", "done"):
        return
    # The killed repair left its lock (and maybe a temp file or a backup without manifest): inspect reports
    # the leftovers, the next repair clears the stale lock, removes them and applies (issue #12 items 12, 13).
    report = analyse(load_checkpoint(ck))
    leftovers = {f.message.split(":")[0] for f in report.findings if f.code == "CKF005"}
    if stage == "replace":  # the complete temp file, killed just before os.replace
        assert any("ckptfix-tmp" in x for x in leftovers), leftovers
    if stage == "backup":
        assert any(x.startswith(".ckptfix/backup-") for x in leftovers), leftovers
    res = apply_plan(make_plan(ck)) if data == original else None
    if res is not None:
        assert res.status == "applied", res.error
        assert any("stale lock" in c and "no longer runs" in c for c in res.cleaned), res.cleaned
        assert len(res.cleaned) == 1 + len(leftovers)
        assert not [f for f in analyse(load_checkpoint(ck)).findings if f.code == "CKF005"]
        assert not [p for p in ck.iterdir() if "ckptfix-tmp" in p.name]
    else:
        assert make_plan(ck).action == "nothing"


def test_lock_held_by_a_live_process(tmp_path):
    ck = copy(tmp_path, "sine-v1")
    (ck / ".ckptfix").mkdir()
    (ck / ".ckptfix" / "lock").write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "time": "now"}))
    before = tree(ck)
    res = apply_plan(make_plan(ck))
    assert res.status == "locked" and "another repair" in res.error
    assert tree(ck) == before


def test_file_changed_since_plan_is_not_touched(tmp_path):
    ck = copy(tmp_path, "sine-v1")
    p = make_plan(ck)
    state = torch.load(ck / "scheduler.bin", weights_only=True)
    torch.save({**state, "last_epoch": 31}, ck / "scheduler.bin")
    changed = (ck / "scheduler.bin").read_bytes()
    res = apply_plan(p)
    assert res.status == "failed" and "changed since" in res.error
    assert (ck / "scheduler.bin").read_bytes() == changed


def test_symlinked_scheduler_is_refused(tmp_path):
    ck = copy(tmp_path, "sine-v1")
    real = ck / "real-scheduler.bin"
    (ck / "scheduler.bin").rename(real)
    (ck / "scheduler.bin").symlink_to(real.name)
    before = tree(ck)
    res = apply_plan(make_plan(ck))
    assert res.status == "failed" and "symlink" in res.error
    assert tree(ck) == before and (ck / "scheduler.bin").is_symlink()


def test_symlink_outside_is_refused_with_3(tmp_path):
    ck = copy(tmp_path, "sine-v1")
    outside = tmp_path / "elsewhere.bin"
    (ck / "scheduler.bin").rename(outside)
    (ck / "scheduler.bin").symlink_to(outside)
    before = outside.read_bytes()
    out = repair_path(ck, Options())
    assert out.exit_code == 3 and out.items[0].plan.action == "refuse"
    assert outside.read_bytes() == before and (ck / "scheduler.bin").is_symlink()


def test_tmp_folders_are_never_touched_and_consistent_ones_stay_identical(tmp_path):
    root = copy(tmp_path, "output-run").parent
    before = tree(root)
    out = repair_path(root, Options())
    assert out.exit_code == 0 and [i.result.status for i in out.items] == ["nothing"] * 4
    assert tree(root) == before
    single = repair_path(root / "checkpoint-40-tmp", Options(lr_warmup_steps=10))
    assert single.items == () and single.disc.skipped
    assert tree(root) == before


def test_recreate_replaces_a_hostile_file_without_running_it(tmp_path):
    ck = copy(tmp_path, "hostile")
    marker = Path((FIX / "hostile" / "MARKER").read_text())
    hostile = (ck / "scheduler.bin").read_bytes()
    out = repair_path(ck, Options(lr_warmup_steps=10, lr_end=1e-6, recreate=True))
    assert out.exit_code == 0, out.items[0].result.error
    assert not marker.exists()
    assert (out.items[0].result.backup_dir / "scheduler.bin").read_bytes() == hostile
    assert torch.load(ck / "scheduler.bin", weights_only=True)["last_epoch"] == 30
