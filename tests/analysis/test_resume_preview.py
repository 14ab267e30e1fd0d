"""The resume preview (analysis/resume_preview.py, resume_checks.py): what the resumed run's LR will be,
checked against SimpleTuner 3.1.6's own resume (fixtures/simpletuner_runs/harness.py) step by step."""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

from ckptfix.analysis.checks import analyse
from ckptfix.analysis.report import Options, RunFacts
from ckptfix.analysis.resume_preview import SCAN_STEPS, preview_resume, resume_position
from ckptfix.model.load import load_checkpoint
from ckptfix.model.trainers import KOHYA, SIMPLETUNER
from ckptfix.schedulers.reference import sine_state
from tests.helpers import FIXTURES

RUNS = FIXTURES / "simpletuner_runs"
OLD, NEW = SIMPLETUNER.rules[:1], SIMPLETUNER.rules[2:]
Q = 1.5e-9


def sine(le: int, t0: int = 10) -> dict:
    ref = sine_state(le, t0, 1, 1e-6, [1e-4])
    return {"T_0": t0, "T_i": ref.T_i, "T_mult": 1, "T_cur": ref.T_cur, "eta_min": 1e-6, "base_lrs": [1e-4],
            "last_epoch": le, "_last_lr": ref.last_lr}


def test_resume_position_per_rule():
    assert resume_position("stored", 33, 20, 22, 2) == 33
    assert resume_position("epoch_step", 33, 20, 22, 2) == 44
    assert resume_position("epoch_step", 33, 20, None, 2) == 40  # training_state.get("epoch_step", global_resume_step)
    assert resume_position("global_step", 33, 20, 22, 2) == 40


def test_on_schedule_and_two_steps_ahead():
    st = sine(20)
    ok = preview_resume(st, [1e-4], 20, 20, 20, 1, OLD, "sine", "sine")
    assert ok.ok and [s.step for s in ok.steps] == [21, 22, 23, 24, 25]
    ahead = preview_resume(st, [1e-4], 20, 20, 22, 1, OLD, "sine", "sine")
    assert not ahead.ok and ahead.first_wrong == ahead.scheduler_wrong == 22 and ahead.offset_steps == 2
    assert preview_resume(st, [1e-4], 20, 20, 22, 1, NEW, "sine", "sine").ok  # 4.10 ignores epoch_step
    shifted = preview_resume(st, [1e-4], 20, 20, 30, 1, OLD, "sine", "sine")  # one whole period ahead
    assert shifted.ok and shifted.scanned == SCAN_STEPS  # no step differs: the scan found nothing


def test_first_step_only_is_the_optimizers_lr():
    p = preview_resume(sine(20), [5e-5], 20, 20, 20, 1, NEW, "sine", "sine")
    assert p.first_wrong == 21 and p.scheduler_wrong is None and p.found == 5e-5
    assert preview_resume(sine(20), None, 20, 20, 20, 1, NEW, "sine", "sine").ok  # unknown lr: not judged


def test_stored_rule_and_unusable_states():
    p = preview_resume(sine(18), [1e-4], 20, 20, None, 1, KOHYA.rules, "sine", "sine")
    # step 22 runs at 19 where the run is at 21: the same LR (the sine is symmetric); step 23 differs
    assert p.resumed_last_epoch == 18 and p.scheduler_wrong == 23 and p.steps[1].ok
    assert preview_resume({"T_0": 0}, None, 20, 20, 20, 1, OLD, "sine", "sine") is None


needs_simpletuner = pytest.mark.skipif(
    importlib.util.find_spec("simpletuner") is None and not os.environ.get("CI"),
    reason="simpletuner 3.1.6 not installed (fixtures/simpletuner_runs/README.md)",
)


@needs_simpletuner
@pytest.mark.parametrize("case, variant, glue, formula", [
    ("b-n1-7-batches-per-epoch", "fixed", "3.1.6", "sine"),
    ("b-n1-7-batches-per-epoch", "stock", "3.1.6", "sine"),
    ("b-n1-7-batches-per-epoch", "stock", "4.10.1", "simpletuner"),
    ("d-ga2-resumed", "fixed", "3.1.6", "sine"),
    ("c-n2-torchrun", "stock", "3.1.6", "simpletuner"),
    ("a-n1-no-boundary", "stock", "3.1.6", "sine"),
])
def test_preview_is_what_simpletuner_does(case, variant, glue, formula):
    """Every step the preview shows (and the first wrong one) is the LR SimpleTuner's own resume uses."""
    sys.path.insert(0, str(RUNS))
    import harness

    ckpt = RUNS / case / variant / "checkpoint-20"
    target = "sine" if formula == "sine" else "simpletuner-sine-v2"
    r = analyse(load_checkpoint(ckpt), Options(trainer=f"simpletuner=={glue}", target=target))
    (p,) = r.resume
    real = harness.resume_lrs(ckpt, harness.load_case(case)["params"], glue=glue, formula=formula)
    assert p.steps
    for row in p.steps:
        assert row.lr is not None and abs(real[row.step] - row.lr) <= Q, (row, real[row.step])
    if p.scheduler_wrong is not None:
        assert abs(real[p.scheduler_wrong] - p.scheduler_found) <= Q
    want = harness.expected_lrs(case, "fixed" if formula == "sine" else "stock")
    on_schedule = all(abs(real[k] - want[k]) <= Q for k in real)
    assert on_schedule == p.ok


def test_findings_and_the_stock_note():
    ck = load_checkpoint(RUNS / "b-n1-7-batches-per-epoch/stock/checkpoint-20")
    r = analyse(ck, Options(), RunFacts(installed=()))  # every release
    codes = sorted(f.code for f in r.findings)
    assert codes == ["CKF031", "CKF111", "CKF115"]  # <4.10: 2 ahead; >=4.10: only optimizer.bin's lr
    (off,) = [f for f in r.findings if f.code == "CKF111"]
    assert off.key == "epoch_step" and off.file.endswith("training_state.json")
    assert "1.0 to < 4.9.3, SimpleTuner 4.9.3 to < 4.10.0" in off.message
    assert off.message.endswith("SimpleTuner >= 4.10.0 resume(s) on schedule")
    assert r.stock is not None and r.stock.runs == "simpletuner-sine-v2"
    v2 = analyse(ck, Options(trainer="simpletuner>=4.10", target="simpletuner-sine-v2"))
    assert v2.findings == () and v2.stock is None and v2.resume[0].ok  # stock SimpleTuner, checked as such
    fixed = analyse(load_checkpoint(RUNS / "b-n1-7-batches-per-epoch/fixed/checkpoint-20"),
                    Options(trainer="simpletuner>=4.10", target="simpletuner-sine-v2"))
    assert "CKF114" in [f.code for f in fixed.findings]


def test_simpletuner_without_training_state_resumes_at_step_zero(tmp_path):
    """SimpleTuner's StateTracker gives global_step 0 without training_state.json: the resume starts its LR
    position at 0 whatever the folder says."""
    import shutil

    ck = tmp_path / "checkpoint-25-rolling"
    shutil.copytree(RUNS / "a-n1-no-boundary/fixed/checkpoint-25-rolling", ck)
    (ck / "training_state.json").unlink()
    r = analyse(load_checkpoint(ck), Options(trainer="simpletuner==3.1.6"))
    (p,) = r.resume  # (at step 20, 0 would be two whole periods of T_0 10 off: the same LRs)
    assert p.resumed_last_epoch == 0 and p.true_last_epoch == 25 and p.scheduler_wrong == 27
    assert "CKF111" in [f.code for f in r.findings]


def test_offset_of_a_hostile_position_never_overflows():
    from ckptfix.analysis.report import ResumePreview

    def offset(resumed: int, n: int):
        return ResumePreview(("x",), "epoch_step", n, None, resumed, 30, "sine", "sine", ()).offset_steps

    huge = int("7" * 4000)
    assert offset(huge, 1) == huge - 30 and isinstance(offset(huge, 1), int)  # exact when whole
    assert offset(huge, 2) == float("inf") and offset(-huge, 2) == float("-inf")  # 777...747: odd
    assert offset(33, 2) == 1.5 and offset(22, 1) == -8
