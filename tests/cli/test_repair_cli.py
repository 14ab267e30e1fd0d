"""`ckptfix repair` on copies of the fixtures: exit codes, --dry-run / inspect write nothing, --json."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ckptfix._cli import app  # noqa: PLC2701 - the tests drive the CLI's Typer app
from tests.helpers import FIXTURES as ROOT_FIXTURES
from tests.helpers import installed

pytestmark = pytest.mark.smoke  # runs from the wheel on every Python, without torch (.ci/run)

FIX = ROOT_FIXTURES
NAMES = ["sine-ok", "sine-v1", "sine-v2", "sine-v2-no-step-count", "stale-tcur", "not-multiplied", "two-procs",
         "missing-scheduler", "truncated", "hostile", "lambdalr", "step-mismatch", "legacy-format"]
# Exit of `repair` with no flags (after the repair), and of `repair --dry-run`. A repaired scheduler whose
# optimizer.bin still holds another lr exits 1: the first resumed step runs at it (CKF115) until --optimizer-lr.
EXPECTED = {
    "sine-ok": (0, 0), "sine-v1": (1, 1), "sine-v2": (1, 1), "sine-v2-no-step-count": (1, 1),
    "stale-tcur": (1, 1), "not-multiplied": (1, 1), "two-procs": (0, 0), "missing-scheduler": (1, 1),
    "truncated": (3, 3), "hostile": (3, 3), "lambdalr": (0, 0), "step-mismatch": (1, 1), "legacy-format": (0, 0),
}


def run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def torch_loads_what_changed(root: Path, before: dict[str, str]) -> int:
    """How many torch files repair wrote (changed or new, outside .ckptfix/); each loads with
    torch.load(weights_only=True) (checked where torch is installed: not in the smoke run)."""
    n = 0
    for rel, digest in tree(root).items():
        if digest != before.get(rel) and digest != "dir" and ".ckptfix" not in rel and rel.endswith((".bin", ".pt")):
            if installed("torch"):
                import torch

                torch.load(root / rel, weights_only=True)
            n += 1
    return n


@pytest.fixture()
def all_fixtures(tmp_path) -> Path:
    for name in NAMES + ["output-run"]:
        shutil.copytree(FIX / name, tmp_path / name, symlinks=True)
    return tmp_path


def test_dry_run_and_inspect_change_no_byte(all_fixtures):
    before = tree(all_fixtures)
    for name in NAMES + ["output-run"]:
        path = all_fixtures / name
        r = run("repair", path, "--dry-run")
        expected = EXPECTED[name][1] if name in EXPECTED else 0
        assert r.exit_code == expected, (name, r.output)
        run("repair", path, "--dry-run", "--json", "--lr-warmup-steps", "10", "--recreate")
        run("inspect", path)
        run("inspect", path, "--json")
    assert tree(all_fixtures) == before
    assert not (Path((FIX / "hostile" / "MARKER").read_text())).exists()


@pytest.mark.parametrize("name", NAMES)
def test_repair_exit_codes_then_idempotent(all_fixtures, name):
    path = all_fixtures / name
    before = tree(path)
    r = run("repair", path)
    assert r.exit_code == EXPECTED[name][0], r.output
    snapshot = tree(path)
    written = torch_loads_what_changed(path, before)
    assert (written > 0) == ("repaired" in r.output), r.output
    again = run("repair", path)
    assert again.exit_code == EXPECTED[name][0]
    assert tree(path) == snapshot  # the second repair changes no byte
    if EXPECTED[name][0] == 0:
        assert run("inspect", path).exit_code == 0
        assert "nothing to do" in " ".join(again.output.split())  # the summary wraps with the temp path's length
    elif name in FIRST_STEP_ONLY:  # what is left is the first step's lr: the command it advises fixes it
        assert "--optimizer-lr" in r.output.splitlines()[-1] and "CKF115" in r.output
        assert run("repair", path, "--optimizer-lr").exit_code == 0
        assert run("inspect", path).exit_code == 0


#: Fixtures that repair leaves with only optimizer.bin's lr to set (CKF115).
FIRST_STEP_ONLY = ("sine-v1", "sine-v2", "stale-tcur", "not-multiplied")


def test_flags_make_the_unfixable_fixable(all_fixtures):
    before = tree(all_fixtures)
    assert run("repair", all_fixtures / "missing-scheduler", "--lr-warmup-steps", "10", "--lr-end", "1e-6").exit_code == 0
    assert run("repair", all_fixtures / "sine-v2-no-step-count", "--num-processes", "1").exit_code == 0
    # the state is right at --step 30, but SimpleTuner resumes from training_state.json's 25: refused
    r = run("repair", all_fixtures / "step-mismatch", "--step", "30")
    assert r.exit_code == 1 and "global_step 25" in " ".join(r.output.split())
    assert run("repair", all_fixtures / "hostile", "--recreate").exit_code == 3  # needs W
    assert run("repair", all_fixtures / "hostile", "--recreate", "--lr-warmup-steps", "10").exit_code == 0
    assert run("inspect", all_fixtures / "hostile").exit_code == 0
    assert not (Path((FIX / "hostile" / "MARKER").read_text())).exists()
    assert torch_loads_what_changed(all_fixtures, before) == 3  # created, rewritten, re-created (step-mismatch: refused)


def test_lr_end_finally_takes_effect(all_fixtures):
    path = all_fixtures / "sine-ok"
    assert run("repair", path, "--lr-end", "2e-6", "--dry-run").exit_code == 1
    r = run("repair", path, "--lr-end", "2e-6", "--json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    keys = {c["key"] for c in doc["checkpoints"][0]["changes"]}
    assert "eta_min" in keys


def test_json_is_one_document(all_fixtures):
    r = run("repair", all_fixtures / "sine-v2", "--json", "--dry-run")
    doc = json.loads(r.stdout)
    assert doc["schema_version"] >= 1 and doc["tool"]["command"] == "repair" and doc["dry_run"] is True
    ck = doc["checkpoints"][0]
    assert ck["action"] == "rewrite" and ck["status"] == "dry-run" and ck["exit_code"] == 1
    assert ck["steps"]["chosen"] == 30 and ck["steps"]["source"] == "training_state.json"
    drop = [c for c in ck["changes"] if c["key"] == "total_steps"][0]
    assert drop["new_absent"] is True and drop["old"] == 30 and "CKF031" in drop["fixes"]
    assert ck["profile_before"][0]["profile"] == "simpletuner-sine-v2"


def test_latest_only_touches_the_latest(all_fixtures):
    root = all_fixtures / "output-run"
    # Make an older checkpoint inconsistent: --latest must leave it alone.
    old = root / "checkpoint-10" / "scheduler.bin"
    shutil.copyfile(all_fixtures / "sine-v1" / "checkpoint-30" / "scheduler.bin", old)
    before = tree(root)
    r = run("repair", root, "--latest")
    assert r.exit_code == 0 and tree(root) == before
    r = run("repair", root)
    assert r.exit_code == 0  # checkpoint-10 rewritten to its own step (10)
    assert run("inspect", root).exit_code == 0
    assert (root / "checkpoint-20" / ".ckptfix").exists() is False


def test_usage_errors(tmp_path):
    assert run("repair", tmp_path / "nope").exit_code == 2
    assert run("repair", tmp_path).exit_code == 4  # an empty folder: nothing to resume (docs/exit-codes.md)


def test_hf_trainer_checkpoint_is_reported_not_rewritten(tmp_path: Path) -> None:
    import shutil

    from tests.helpers import tree_hashes

    src = FIX / "trainers" / "hf-trainer-edited"
    dst = tmp_path / "hf"
    shutil.copytree(src, dst)
    before = tree_hashes(dst)
    res = CliRunner().invoke(app, ["repair", str(dst)])
    assert res.exit_code == 1
    assert "does not rewrite scheduler.pt" in res.stdout
    assert tree_hashes(dst) == before
