"""repair/actions/training_state.py: SimpleTuner's epoch_step set through every stage of apply_plan —
backup, atomic write, verification, undo on a failure at any stage, a real kill at any stage."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from ckptfix.analysis.report import Options
from ckptfix.errors import RepairFailed
from ckptfix.formats.source.durable import DISK
from ckptfix.repair.actions.interface import Change, Journal
from ckptfix.repair.actions.training_state import TrainingStateWrite
from ckptfix.repair.apply import STAGES, apply_plan
from ckptfix.repair.plan import plan_repair
from ckptfix.repair.run import repair_path
from tests.helpers import FIXTURES, in_forked_child, kill_at, tree_hashes

SRC = FIXTURES / "simpletuner_runs/b-n1-7-batches-per-epoch/fixed/checkpoint-20"  # epoch_step 22 at step 20
OPTS = Options(trainer="simpletuner==3.1.6")


def copy(tmp_path: Path) -> Path:
    dst = tmp_path / "checkpoint-20"
    shutil.copytree(SRC, dst)
    return dst


def make_plan(ck: Path):
    from ckptfix.analysis.run import inspect_one

    return plan_repair(inspect_one(ck, OPTS), OPTS)


def test_the_plan_sets_epoch_step_only(tmp_path):
    ck = copy(tmp_path)
    p = make_plan(ck)
    (a,) = p.actions
    assert isinstance(a, TrainingStateWrite) and a.path.name == "training_state.json"
    assert [(c.key, c.old, c.new, c.fixes) for c in a.changes] == [("epoch_step", 22, 20, ("CKF111",))]
    os.chmod(ck / "training_state.json", 0o600)
    before = (ck / "training_state.json").read_bytes()
    res = apply_plan(p)
    assert res.status == "applied"
    after = (ck / "training_state.json").read_bytes()
    assert after == before.replace(b'"epoch_step": 22', b'"epoch_step": 20')
    assert (ck / "training_state.json").stat().st_mode & 0o777 == 0o600
    assert (res.backup_dir / "training_state.json").read_bytes() == before
    manifest = json.loads((res.backup_dir / "manifest.json").read_text())
    assert manifest["files"][0]["file"] == "training_state.json" and "cp .ckptfix/" in manifest["files"][0]["restore"]
    assert make_plan(ck).action == "nothing"


def test_rank_files_too_and_not_for_4_10(tmp_path):
    ck = copy(tmp_path)
    (ck / "training_state-rank1.json").write_text('{"global_step": 20, "epoch_step": 23, "epoch": 3}')
    from ckptfix.analysis.run import inspect_one

    report = inspect_one(ck, OPTS)
    assert report.num_processes == 2  # rank 1 saved: every rank saves, N = 2 (last_epoch 20 is then wrong too)
    rank = [f for f in report.findings if f.file.endswith("training_state-rank1.json")]
    assert [f.code for f in rank] == ["CKF111"] and "rank 1" in rank[0].message and "3 step(s) ahead" in rank[0].message
    out = repair_path(ck, OPTS)
    assert out.exit_code == 0
    assert json.loads((ck / "training_state-rank1.json").read_text())["epoch_step"] == 20
    ck2 = copy(tmp_path / "b")
    before = tree_hashes(ck2)
    assert repair_path(ck2, Options(trainer="simpletuner>=4.10")).exit_code == 0 and tree_hashes(ck2) == before


@pytest.mark.parametrize("stage", STAGES)
def test_failure_at_each_stage_restores_the_original(tmp_path, stage):
    ck = copy(tmp_path)
    before = tree_hashes(ck)

    def hook(s: str, path: Path) -> None:
        if s == stage:
            raise RuntimeError(f"injected at {stage}")

    res = apply_plan(make_plan(ck), fault=hook)
    assert res.status == "failed" and "injected" in res.error and res.restored is True
    assert {k: v for k, v in tree_hashes(ck).items() if not k.startswith(".ckptfix")} == before
    assert not [p for p in ck.iterdir() if "ckptfix-tmp" in p.name]
    assert apply_plan(make_plan(ck)).status == "applied"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("stage", STAGES + ("done",))
def test_killed_at_each_stage_leaves_the_original_or_the_new_file(tmp_path, stage):
    ck = copy(tmp_path)
    original = (ck / "training_state.json").read_bytes()
    p = make_plan(ck)

    code = in_forked_child(lambda: apply_plan(p, fault=kill_at(stage)).status == "applied")
    assert code == (0 if stage == "done" else 17)
    data = (ck / "training_state.json").read_bytes()
    assert data in (original, original.replace(b'"epoch_step": 22', b'"epoch_step": 20'))
    assert (data == original) == (stage in ("lock", "recheck", "backup", "build", "write", "replace"))


def test_recheck_and_verify_refuse_a_changed_file(tmp_path):
    ck = copy(tmp_path)
    p = make_plan(ck)
    (ck / "training_state.json").write_text('{"global_step": 20, "epoch_step": 21, "epoch": 3}')
    res = apply_plan(p)
    assert res.status == "failed" and "changed since the plan" in res.error
    path = ck / "training_state.json"
    a = TrainingStateWrite(path, (Change(path, "epoch_step", 21, 20),), (("epoch_step", 21),), path.read_bytes())
    with pytest.raises(RepairFailed, match="does not hold the bytes written"):
        a.verify(Journal(ck, DISK))  # the file still holds epoch_step 21
    dup = TrainingStateWrite(path, a.changes, a.expect, b'{"epoch_step": 1, "epoch_step": 21}')
    with pytest.raises(RepairFailed, match="2 times"):  # a duplicate key: not edited in place
        dup.data()


def test_object_storage_refuses_the_epoch_step_write_and_writes_nothing():
    """On object storage ckptfix writes scheduler files only: a repair that needs epoch_step is refused, and
    says why; with the 4.10 rule (no epoch_step) it goes ahead."""
    import uuid

    fsspec = pytest.importorskip("fsspec")
    from ckptfix.formats.source.remote import connect

    fs = fsspec.filesystem("memory")
    root = f"/ckptfix-test-{uuid.uuid4().hex[:8]}/checkpoint-20"
    src = FIXTURES / "simpletuner_runs/b-n1-7-batches-per-epoch/stock/checkpoint-20"
    try:
        for p in sorted(src.iterdir()):
            fs.pipe_file(f"{root}/{p.name}", p.read_bytes())
        before = {k: fs.cat_file(k) for k in fs.find(root)}
        store, path = connect(f"memory://{root}")
        out = repair_path(path, OPTS, store=store)
        (item,) = out.items
        assert out.exit_code == 1 and item.plan.action == "refuse" and "epoch_step" in item.plan.refusals[-1].reason
        assert {k: fs.cat_file(k) for k in fs.find(root)} == before
        store, path = connect(f"memory://{root}")
        assert repair_path(path, Options(trainer="simpletuner>=4.10"), store=store).items[0].result.status == "applied"
    finally:
        fs.rm(root.rsplit("/", 1)[0], recursive=True)
