"""A state two formulas fit (issue 21 item 5): torch's CosineAnnealingWarmRestarts and the fixed sine agree at a
restart. Real checkpoints: fixtures/resumes/accelerate/cawr-* (accelerate's save_state, resumed for real), and a
CosineAnnealingWarmRestarts stepped once per 2 optimizer steps, saved at a restart, written here by accelerate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ckptfix.analysis.report import Options
from ckptfix.analysis.run import inspect_one
from ckptfix.repair.plan import plan_repair
from tests.helpers import FIXTURES, needs, tree_hashes

CAWR = FIXTURES / "resumes" / "accelerate"


def _codes(report) -> set[str]:
    return {f.code for f in report.findings}


@pytest.mark.parametrize("case", ["cawr-at-restart", "cawr-between-restarts"])
def test_both_named_where_both_fit_and_the_resume_follows(case: str) -> None:
    """Stepped once per optimizer step: the resume follows (truth.json). Both classes named, exit 0."""
    report = inspect_one(CAWR / case / "output" / "checkpoints" / "checkpoint_1", Options(num_processes=1))
    assert report.schedulers[0].match.also_fits == ("CosineAnnealingWarmRestarts",)
    (f,) = [f for f in report.findings if f.code == "CKF143"]
    assert f.severity == "info" and "CosineAnnealingWarmRestarts" in f.message and report.exit_code == 0


def test_a_trainer_that_builds_its_own_formula_settles_it() -> None:
    """SimpleTuner builds its sine itself: no second reading (the state is then its formula's, or stale)."""
    ck = CAWR / "cawr-at-restart" / "output" / "checkpoints" / "checkpoint_1"
    report = inspect_one(ck, Options(num_processes=1, trainer="simpletuner==3.1.6"))
    assert not _codes(report) & {"CKF143", "CKF144"}


@pytest.fixture(scope="module")
def per_epoch(tmp_path_factory) -> Path:
    """CosineAnnealingWarmRestarts(T_0=4), the script stepping it once per 2 optimizer steps (once per epoch of 2
    batches), saved after 16 optimizer steps: last_epoch 8 = step / 2, T_cur 0 (a restart), where its LR is the
    fixed sine's. A correct state: its own resume follows (accelerate/cawr-per-epoch, resumed for real, is the
    same run saved between restarts)."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration

    root = tmp_path_factory.mktemp("per-epoch") / "run"
    torch.manual_seed(0)
    acc = Accelerator(cpu=True, project_config=ProjectConfiguration(project_dir=str(root),
                                                                    automatic_checkpoint_naming=True))
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=4, eta_min=1e-5)
    model, opt, sched = acc.prepare(model, opt, sched)
    for step in range(1, 17):
        model(torch.ones(1, 2)).sum().backward()
        opt.step()
        opt.zero_grad()
        if step % 2 == 0:
            sched.step()  # once per epoch
    acc.save_state()
    state = sched.scheduler.state_dict()
    assert (state["last_epoch"], state["T_cur"]) == (8, 0)
    return root / "checkpoints" / "checkpoint_0"


@needs("accelerate")
def test_a_position_the_other_formula_explains_is_not_rewritten(per_epoch: Path) -> None:
    """As a sine stepped per optimizer step the state is stale (last_epoch 8 at step 16); as the per-epoch
    CosineAnnealingWarmRestarts it is right. Said with both readings (CKF144), and repair plans no rewrite: before,
    it read 'sine', blocked on 'N unknown', and repair --num-processes 1 planned last_epoch 8 -> 16."""
    for opts in (Options(), Options(num_processes=1)):
        report = inspect_one(per_epoch, opts)
        codes = _codes(report)
        assert "CKF144" in codes and not codes & {"CKF011", "CKF012", "CKF110", "CKF111"}, codes
        (f,) = [f for f in report.findings if f.code == "CKF144"]
        assert "once per 2 optimizer steps" in f.message and report.exit_code == 1
        plan = plan_repair(report, opts)
        assert plan.action == "refuse" and not plan.actions
    before = tree_hashes(per_epoch)
    from typer.testing import CliRunner

    from ckptfix._cli import app

    res = CliRunner().invoke(app, ["repair", str(per_epoch), "--num-processes", "1"])
    assert res.exit_code == 1 and tree_hashes(per_epoch) == before


@needs("accelerate")
def test_the_same_state_from_simpletuner_is_stale(per_epoch: Path, tmp_path: Path) -> None:
    ck = tmp_path / "checkpoint-16"
    shutil.copytree(per_epoch, ck)
    report = inspect_one(ck, Options(num_processes=1, trainer="simpletuner==3.1.6"))
    assert "CKF012" in _codes(report) and "CKF144" not in _codes(report)
