"""The resume-files rule (CKF004, issue #12 item 1), checked against accelerate's own ``load_state``.

For each variant of a real ``Accelerator.save_state`` folder, accelerate's ``load_state`` fails exactly when
ckptfix reports a missing file the resume loads (CKF004, or CKF001 for scheduler.bin next to an optimizer).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ckptfix._cli import app
from ckptfix.analysis.report import Options
from ckptfix.analysis.resume_files import missing_files, resume_file_findings
from ckptfix.analysis.run import inspect_one
from ckptfix.model.load import load_checkpoint
from ckptfix.model.resume_files import ACCELERATE_LOAD_STATE, Required, ResumeFiles
from tests.helpers import FIXTURES

runner = CliRunner()


def _prepared():
    import torch
    from accelerate import Accelerator

    torch.manual_seed(0)
    acc = Accelerator(cpu=True)
    model = torch.nn.Linear(4, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    model, opt, sched = acc.prepare(model, opt, sched)
    return acc, model, opt, sched


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    import torch

    acc, model, opt, sched = _prepared()
    for _ in range(2):
        model(torch.randn(3, 4)).sum().backward()
        opt.step()
        sched.step()
        opt.zero_grad()
    out = tmp_path_factory.mktemp("acc") / "checkpoint-2"
    acc.save_state(str(out))
    return out


VARIANTS = {  # name: files removed from the real save -> codes ckptfix must report
    "complete": ((), set()),
    "no random_states": (("random_states_0.pkl",), set()),  # load_state tolerates it
    "no optimizer": (("optimizer.bin",), {"CKF004"}),
    "no scheduler": (("scheduler.bin",), {"CKF126"}),  # a checkpoint-N of the diffusers scripts: a LambdaLR
    "no model": (("model.safetensors",), {"CKF004"}),
    "only model (killed save)": (("optimizer.bin", "scheduler.bin", "random_states_0.pkl"), {"CKF004"}),
    "empty": (("model.safetensors", "optimizer.bin", "scheduler.bin", "random_states_0.pkl"), {"CKF004"}),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_ckptfix_agrees_with_accelerate_load_state(saved: Path, tmp_path: Path, variant: str) -> None:
    removed, codes = VARIANTS[variant]
    ck = tmp_path / "checkpoint-2"
    shutil.copytree(saved, ck)
    for name in removed:
        (ck / name).unlink()
    report = inspect_one(ck, Options(num_processes=1))
    found = {f.code for f in report.findings if f.code in ("CKF001", "CKF004", "CKF126")}
    assert found == codes, [f.message for f in report.findings]

    acc, *_ = _prepared()
    try:
        acc.load_state(str(ck))
        loaded = True
    except (FileNotFoundError, OSError, RuntimeError):
        loaded = False
    assert loaded == (not codes), f"accelerate load_state {'succeeded' if loaded else 'failed'} on {variant}"


def test_empty_latest_next_to_a_good_one_fails_the_gate(tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(FIXTURES / "sine-ok" / "checkpoint-30", out / "checkpoint-40")
    (out / "checkpoint-50").mkdir()
    res = runner.invoke(app, ["inspect", str(out), "--latest", "--json"])
    doc = json.loads(res.stdout)
    assert res.exit_code == 1 and doc["latest"].endswith("checkpoint-50")
    missing = sorted(f["file"].rsplit("/", 1)[1] for f in doc["checkpoints"][0]["findings"] if f["code"] == "CKF004")
    assert missing == ["model.safetensors", "optimizer.bin", "scheduler.bin"]
    # only model.safetensors: still not resumable
    shutil.copy(FIXTURES / "sine-ok" / "checkpoint-30" / "model.safetensors", out / "checkpoint-50")
    res = runner.invoke(app, ["inspect", str(out), "--latest"])
    assert res.exit_code == 1 and "optimizer.bin is missing" in res.stdout
    # repair cannot fill it: it says so and exits 1 (the launcher recipe stops)
    res = runner.invoke(app, ["repair", str(out), "--latest"])
    assert res.exit_code == 1
    assert sorted(p.name for p in (out / "checkpoint-50").iterdir()) == ["model.safetensors"]


def test_numbered_files_without_gaps(tmp_path: Path) -> None:
    ck = tmp_path / "checkpoint-30"
    shutil.copytree(FIXTURES / "sine-ok" / "checkpoint-30", ck)
    shutil.copy(ck / "optimizer.bin", ck / "optimizer_2.bin")
    msgs = [f.message for f in resume_file_findings(load_checkpoint(ck))]
    assert len(msgs) == 1 and msgs[0].startswith("optimizer_1.bin is missing but optimizer_2.bin is there")
    shutil.copy(ck / "optimizer.bin", ck / "optimizer_1.bin")
    assert resume_file_findings(load_checkpoint(ck)) == []


def test_the_rule_is_parameterised_by_trainer(tmp_path: Path) -> None:
    """A trainer model adds what its own resume loads (here: kohya's train_state.json)."""
    ck = tmp_path / "checkpoint-30"
    shutil.copytree(FIXTURES / "sine-ok" / "checkpoint-30", ck)
    kohya = ResumeFiles("kohya", "test", ACCELERATE_LOAD_STATE.required + (
        Required("train_state.json", ("train_state.json",), "train_state.json is missing: kohya reads its step there"),))
    model = load_checkpoint(ck)
    assert resume_file_findings(model) == []
    found = missing_files(model, kohya)
    assert [f.message.split(":")[0] for f in found] == ["train_state.json is missing"]
    assert missing_files(model, None) == []  # a trainer ckptfix does not know: no claim
