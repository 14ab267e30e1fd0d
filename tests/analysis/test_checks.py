"""The analysis names the right profile and findings for each fixture, with reference values."""

from __future__ import annotations

import math

import pytest

from ckptfix.analysis.checks import analyse
from ckptfix.analysis.report import Options
from ckptfix.model.load import load_checkpoint
from ckptfix.schedulers.formulas import sine_lr, truncate_lr
from tests.helpers import FIXTURES


def report(name: str, opts: Options = Options()):
    return analyse(load_checkpoint(FIXTURES / name / "checkpoint-30"), opts)


def codes(r) -> list[str]:
    return sorted(f.code for f in r.findings)


def by_code(r, code: str):
    (f,) = [f for f in r.findings if f.code == code]
    return f


def test_consistent_sine() -> None:
    r = report("sine-ok")
    assert r.schedulers[0].profile == "sine" and codes(r) == [] and r.exit_code == 0
    ref = r.schedulers[0].reference
    assert (ref.last_epoch, ref.T_cur, ref.T_i, ref.last_lr) == (30, 0, 10, [1e-4])
    assert r.steps.chosen == 30 and r.steps.source == "training_state.json" and r.num_processes == 1


def test_v1_named_with_expected_values() -> None:
    r = report("sine-v1")
    assert r.schedulers[0].profile == "simpletuner-sine-v1"
    f = by_code(r, "CKF030")
    assert f.found == [5.0499e-05] and f.expected == [1e-4] and f.key == "_last_lr"
    assert "half" not in f.message or "below" in f.message
    assert "(base + eta_min) / 2" in f.message
    assert r.exit_code == 1


def test_v2_named_and_total_steps_called_out() -> None:
    r = report("sine-v2")
    assert r.schedulers[0].profile == "simpletuner-sine-v2"
    f = by_code(r, "CKF031")
    assert f.found == [5.05e-05] and f.expected == [1e-4]
    assert "total_steps" in f.message


def test_v2_without_step_count() -> None:
    # Never stepped (last_epoch -1) and one random_states_0.pkl: nothing tells N (T_0 10 = W x N for W 10 or 5).
    r = report("sine-v2-no-step-count")
    assert codes(r) == ["CKF031", "CKF050", "CKF110"] and r.num_processes is None
    assert by_code(r, "CKF110").expected == "1, 2, 5, 10"
    r = report("sine-v2-no-step-count", Options(num_processes=1))
    assert codes(r) == ["CKF012", "CKF031", "CKF050"]
    f = by_code(r, "CKF012")
    assert (f.found, f.expected) == (-1, 30)
    assert "#1137" in by_code(r, "CKF050").message


def test_stale_t_cur() -> None:
    r = report("stale-tcur")
    t = by_code(r, "CKF020")
    assert (t.found, t.expected) == (5, 0)
    lr = by_code(r, "CKF022")
    assert lr.found == [1e-6] and lr.expected == [1e-4]
    assert r.schedulers[0].profile == "sine"
    assert "CKF040" not in codes(r)  # optimizer lr equals the stored _last_lr: consistent with each other


def test_not_multiplied_by_processes() -> None:
    r = report("not-multiplied")
    assert r.num_processes == 2 and r.num_processes_source.startswith("random_states_*.pkl (rank 1 saved")
    f = by_code(r, "CKF011")
    assert (f.found, f.expected) == (30, 60)
    assert r.schedulers[0].reference.last_lr == [1e-4]  # e=60, T_0=20: a restart


def test_two_processes_consistent() -> None:
    r = report("two-procs")
    assert codes(r) == [] and r.schedulers[0].expected_last_epoch == 60


def test_missing_scheduler() -> None:
    r = report("missing-scheduler")
    assert codes(r) == ["CKF001"] and r.exit_code == 1


def test_step_sources_disagree() -> None:
    r = report("step-mismatch")
    f = by_code(r, "CKF010")
    assert f.found == {"training_state.json": 25, "folder": 30, "optimizer": 30}
    # With --step the user decides, and the state (last_epoch 30) is consistent with it; but SimpleTuner's
    # resume takes its step (and epoch_step) from training_state.json: 25, five steps behind, in every release.
    r = report("step-mismatch", Options(step=30))
    assert r.steps.source == "--step" and codes(r) == ["CKF010", "CKF111"]  # one: both resume rules land alike
    assert {p.resumed_last_epoch for p in r.resume} == {25} and all(p.true_last_epoch == 30 for p in r.resume)


def test_unreadable_and_hostile() -> None:
    r = report("truncated")
    assert codes(r) == ["CKF002"] and r.exit_code == 3
    assert "scheduler.bin" in r.findings[0].message
    r = report("hostile")
    assert codes(r) == ["CKF003"] and r.exit_code == 3


def test_lambdalr_is_unchecked_not_a_finding() -> None:
    r = report("lambdalr")
    assert r.schedulers[0].profile == "unchecked" and r.schedulers[0].match.scheduler_kind == "LambdaLR"
    assert r.exit_code == 0


def test_flags_that_the_state_overrides() -> None:
    r = report("sine-ok", Options(lr_end=1e-5, lr_warmup_steps=20, learning_rate=2e-4))
    got = {f.key: (f.found, f.expected) for f in r.findings if f.code == "CKF060"}
    assert got == {"eta_min": (1e-6, 1e-5), "T_0": (10, 20), "base_lrs": ([1e-4], [2e-4])}
    assert r.exit_code == 0 and Options(strict=True).strict
    assert analyse(load_checkpoint(FIXTURES / "sine-ok/checkpoint-30"), Options(lr_end=1e-5, strict=True)).exit_code == 1
    # the reference (what a repair would write) applies the flags
    ref = r.schedulers[0].reference
    assert ref.T_i == 10 and ref.last_lr == [truncate_lr(sine_lr(2e-4, 1e-5, 0, 10))]


@pytest.mark.parametrize("key, value", [
    ("T_0", 0), ("T_0", -5), ("eta_min", math.nan), ("eta_min", -1.0), ("base_lrs", [math.inf]),
    ("last_epoch", -7), ("T_mult", 0), ("base_lrs", []),
])
def test_bad_values_are_findings_not_crashes(key: str, value: object) -> None:
    from ckptfix.records import replace

    ck = load_checkpoint(FIXTURES / "sine-ok/checkpoint-30")
    sf = ck.schedulers[0]
    state = dict(sf.state)
    state[key] = value
    ck = replace(ck, schedulers=(replace(sf, state=state),))
    r = analyse(ck)
    assert "CKF070" in codes(r) and r.exit_code == 1
    assert by_code(r, "CKF070").key == key
