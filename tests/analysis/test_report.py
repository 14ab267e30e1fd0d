"""The verdict of a checkpoint (issue #12 item 5): "unchecked" is not "consistent"; the exit code stays 0."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ckptfix._cli import app
from ckptfix.analysis.report import Options
from ckptfix.analysis.run import inspect_one
from tests.helpers import FIXTURES

runner = CliRunner()


@pytest.mark.parametrize("folder, verdict, code", [
    ("lambdalr/checkpoint-30", "unchecked", 0),  # a real LambdaLR state: nothing could be checked
    ("trainers/accelerate-fsdp/checkpoint-6", "unchecked", 0),
    ("sine-ok/checkpoint-30", "consistent", 0),
    ("trainers/hf-trainer-tf4/checkpoint-8", "consistent", 0),  # LambdaLR, but its position is checked (CKF100)
    ("trainers/hf-trainer-edited/checkpoint-8", "findings", 1),
    ("hostile/checkpoint-30", "unreadable", 3),
])
def test_verdict(folder: str, verdict: str, code: int) -> None:
    r = inspect_one(FIXTURES / folder, Options())
    assert (r.verdict, r.exit_code) == (verdict, code)


def test_unchecked_in_json_and_table() -> None:
    res = runner.invoke(app, ["inspect", str(FIXTURES / "lambdalr"), "--json"])
    doc = json.loads(res.stdout)
    assert res.exit_code == 0 and doc["checkpoints"][0]["verdict"] == "unchecked"
    res = runner.invoke(app, ["inspect", str(FIXTURES / "lambdalr")])
    assert res.exit_code == 0 and "unchecked" in res.stdout.split("checkpoint-30")[1] and "consistent" not in res.stdout


def test_a_finding_still_wins_over_unchecked(tmp_path: Path) -> None:
    ck = tmp_path / "checkpoint-30"
    shutil.copytree(FIXTURES / "lambdalr" / "checkpoint-30", ck)
    (ck / "training_state.json").write_text('{"global_step": 31}')  # disagrees with the folder and optimizer
    r = inspect_one(ck, Options())
    assert r.verdict == "findings" and r.exit_code == 1
