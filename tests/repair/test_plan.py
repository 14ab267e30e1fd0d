"""RepairPlan: pure planning from the analysis (reads fixtures, writes nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ckptfix.analysis.checks import analyse
from ckptfix.analysis.report import Options
from ckptfix.model.checkpoint import Checkpoint, SchedulerFile, TrainingState
from ckptfix.model.load import load_checkpoint
from ckptfix.records import replace
from ckptfix.repair.actions.interface import ABSENT
from ckptfix.repair.plan import DROPPED_KEYS, OWNED_KEYS, plan_repair
from ckptfix.schedulers.formulas import sine_lr, sine_position, truncate_lr
from ckptfix.schedulers.reference import sine_state_template
from tests.helpers import FIXTURES as ROOT_FIXTURES

FIX = ROOT_FIXTURES


def plan(name: str, opts: Options = Options(), recreate: bool = False):
    ck = load_checkpoint(FIX / name / "checkpoint-30")
    return plan_repair(analyse(ck, opts), replace(opts, recreate=recreate))


def changed(p) -> dict[str, tuple]:
    return {c.key: (c.old, c.new) for c in p.changes}


@pytest.mark.parametrize("name", ["sine-ok", "two-procs", "lambdalr", "legacy-format"])
def test_consistent_or_unchecked_means_nothing(name):
    p = plan(name)
    assert p.action == "nothing" and not p.changes and not p.refusals
    assert p.exit_code_if_not_applied == 0


def test_v1_rewrites_only_the_lr():
    p = plan("sine-v1")
    assert p.action == "rewrite" and p.step == 30 and p.step_source == "training_state.json"
    assert changed(p) == {"_last_lr": ([5.0499e-05], [0.0001])}
    assert p.changes[0].fixes == ("CKF030",)
    assert p.exit_code_if_not_applied == 1


def test_v2_drops_total_steps_and_keeps_step_count():
    p = plan("sine-v2")
    ch = changed(p)
    assert ch["total_steps"] == (30, ABSENT)
    assert ch["T_cur"] == (-1, 0)
    assert "_step_count" not in ch  # kept as stored (0)
    target = p.actions[0].target
    assert "total_steps" not in target and target["_step_count"] == 0
    original = p.actions[0].original
    for key in set(original) - set(OWNED_KEYS) - set(DROPPED_KEYS):
        assert type(target[key]) is type(original[key]) and target[key] == original[key]


def test_v2_without_step_count_gets_the_reference_value():
    p = plan("sine-v2-no-step-count")  # N unknown: the rewrite depends on it
    assert p.action == "refuse" and "--num-processes" in p.refusals[0].reason and len(p.refusals) == 1
    p = plan("sine-v2-no-step-count", Options(num_processes=1))
    ch = changed(p)
    assert ch["_step_count"] == (ABSENT, 31)
    assert ch["last_epoch"] == (-1, 30)
    assert ch["total_steps"] == (0, ABSENT)


def test_not_multiplied_uses_n_times_step():
    p = plan("not-multiplied")
    assert p.num_processes == 2
    assert changed(p)["last_epoch"] == (30, 60)
    assert "CKF011" in p.changes[0].fixes


def test_stale_tcur():
    ch = changed(plan("stale-tcur"))
    assert ch["T_cur"] == (5, 0) and ch["_last_lr"] == ([1e-06], [0.0001])


def test_step_mismatch_needs_step_then_uses_it():
    p = plan("step-mismatch")
    assert p.action == "refuse" and p.refusals[0].exit_code == 1 and "--step" in p.refusals[0].reason
    assert "--num-processes" in plan("step-mismatch", Options(step=25)).refusals[0].reason  # 30 / 25: N unknown
    p = plan("step-mismatch", Options(step=25, num_processes=1))
    assert p.action == "rewrite" and p.step == 25 and p.step_source == "--step"
    assert changed(p)["last_epoch"] == (30, 25)
    # at --step 30 the state is right, but SimpleTuner resumes from training_state.json's step 25: refused
    p = plan("step-mismatch", Options(step=30))
    assert p.action == "refuse" and "resumes from global_step 25" in p.refusals[0].reason and not p.actions
    # 4.10 does not read epoch_step: the plan replays its resume (global_step 25 x 1) and refuses, saying why
    p = plan("step-mismatch", Options(step=30, trainer="simpletuner>=4.10"))
    assert p.action == "refuse" and not p.actions
    assert "after this repair" in p.refusals[0].reason and "5 step(s) behind" in p.refusals[0].reason


def test_missing_scheduler_needs_warmup_then_creates_the_sine_key_set():
    p = plan("missing-scheduler")
    assert p.action == "refuse" and "--lr-warmup-steps" in p.refusals[0].reason and p.refusals[0].exit_code == 1
    p = plan("missing-scheduler", Options(lr_warmup_steps=10, lr_end=1e-6))
    assert p.action == "create"
    target = p.actions[0].target
    assert list(target) == list(sine_state_template(1))
    assert target["T_0"] == 10 and target["last_epoch"] == 30 and target["_step_count"] == 31
    assert target["base_lrs"] == [1e-4] and target["_last_lr"] == [1e-4] and target["eta_min"] == 1e-6
    p = plan("missing-scheduler", Options(lr_warmup_steps=10))
    assert p.actions[0].target["eta_min"] == 0.0 and any("--lr-end" in n for n in p.notes)


@pytest.mark.parametrize("name", ["hostile", "truncated"])
def test_unreadable_is_refused_with_3_unless_recreate(name):
    p = plan(name)
    assert p.action == "refuse" and max(r.exit_code for r in p.refusals) == 3 and not p.to_write
    p = plan(name, Options(lr_warmup_steps=10, lr_end=1e-6), recreate=True)
    assert p.action == "create" and p.actions[0].replaces_unreadable
    assert plan(name, recreate=True).refusals[0].exit_code == 3  # --recreate without W


def test_flags_override_kept_values():
    p = plan("sine-ok", Options(lr_end=2e-6))
    ch = changed(p)
    assert ch["eta_min"] == (1e-6, 2e-6) and "CKF060" in p.changes[0].fixes
    p = plan("sine-ok", Options(lr_warmup_steps=20))
    ch = changed(p)
    assert ch["T_0"] == (10, 20) and ch["T_i"] == (10, 20) and ch["T_cur"] == (0, 10)
    assert ch["_last_lr"][1] == [truncate_lr(sine_lr(1e-4, 1e-6, 10, 20))]
    # A flag equal to the stored value changes nothing (no 1e-06 -> 1e-06 float churn).
    assert plan("sine-ok", Options(lr_end=1e-6, lr_warmup_steps=10, learning_rate=1e-4, t_mult=1)).action == "nothing"


def _synthetic(state: dict, g: int, n: int, folder: Path = Path("/nonexistent/checkpoint-0")) -> Checkpoint:
    sf = SchedulerFile(folder / "scheduler.bin", state, "zip")
    ts = TrainingState(folder / "training_state.json", g, g, 1)
    return Checkpoint(folder, None, ts, (), (sf,), n, has_guard=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    t0=st.integers(1, 40), t_mult=st.integers(1, 3), g=st.integers(0, 300), n=st.integers(1, 4),
    base=st.sampled_from([1e-4, 3e-5, 1.0, 5e-7]), eta=st.sampled_from([0.0, 1e-6, 4e-7]),
    stored_le=st.integers(0, 1500), t_cur=st.integers(-1, 50), extra=st.dictionaries(
        st.sampled_from(["verbose", "foo", "_is_initial", "x"]), st.one_of(st.booleans(), st.integers(), st.text(max_size=3))),
)
def test_target_is_the_reference_sine_and_keeps_other_keys(t0, t_mult, g, n, base, eta, stored_le, t_cur, extra):
    state = {"T_0": t0, "T_i": t0, "T_mult": t_mult, "T_cur": t_cur, "eta_min": eta, "steps_per_epoch": -1,
             **extra, "base_lrs": [base], "last_epoch": stored_le, "_step_count": 7, "_last_lr": [base / 3]}
    opts = Options(num_processes=n)  # one training_state.json and no RNG file: N is the user's to say
    report = analyse(_synthetic(state, g, n), opts)
    p = plan_repair(report, opts)
    le = n * g
    t_cur_ref, t_i_ref = sine_position(le, t0, t_mult)
    want = {"T_0": t0, "T_mult": t_mult, "T_cur": t_cur_ref, "T_i": t_i_ref, "last_epoch": le,
            "_last_lr": [truncate_lr(sine_lr(base, eta, t_cur_ref, t_i_ref))]}
    if p.action == "nothing":
        # Consistent as stored (within the LR tolerance): nothing to write.
        assert not report.findings or all(f.severity == "info" for f in report.findings)
        return
    assert p.action == "rewrite", (p.refusals, report.findings)
    target = p.actions[0].target
    for k, v in want.items():
        assert target[k] == v and type(target[k]) is type(v), k
    assert target["_step_count"] == 7
    for k, v in extra.items():
        assert target[k] == v and type(target[k]) is type(v)
    assert list(target)[: len(state)] == [k for k in state]  # key order kept
