"""Tests for ckptfix.schedulers.detect.detect_profile."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ckptfix.schedulers import (
    PROFILE_NAMES,
    PROFILES,
    UNCHECKED,
    Sine,
    detect_profile,
    lr_matches,
)
from ckptfix.schedulers.formulas import cosine_position, truncate_lr, v1_position

FAST = settings(max_examples=120, deadline=None, database=None)


# --- states as each SimpleTuner class leaves them (built from the formulas) ------------------


def v1_state(e: int, T_0: int, bases: list[float], eta: float) -> dict:
    t_cur, t_i = v1_position(e, T_0, 1)
    return {
        "T_0": T_0, "steps_per_epoch": -1, "T_i": t_i, "T_mult": 1, "eta_min": eta, "T_cur": t_cur,
        "base_lrs": list(bases), "last_epoch": e, "verbose": False, "_step_count": 0,
        "_get_lr_called_within_step": False, "_is_initial": False,
        "_last_lr": PROFILES["simpletuner-sine-v1"].expected_lrs(bases, eta, e, T_0),
    }


def v2_state(e: int, T_0: int, bases: list[float], eta: float) -> dict:
    return {
        "T_0": T_0, "T_mult": 1, "eta_min": eta, "T_i": T_0, "T_cur": -1, "last_epoch": e,
        "base_lrs": list(bases), "verbose": False, "total_steps": e, "_step_count": 0, "_is_initial": False,
        "_last_lr": PROFILES["simpletuner-sine-v2"].expected_lrs(bases, eta, e, T_0),
    }


def cosine_state(e: int, T_0: int, bases: list[float], eta: float) -> dict:
    t_cur, t_i = cosine_position(e, T_0)
    return {
        "T_0": T_0, "steps_per_epoch": -1, "T_i": t_i, "T_mult": 1, "eta_min": eta, "T_cur": t_cur,
        "base_lrs": list(bases), "last_epoch": e, "verbose": False, "_step_count": 0,
        "_get_lr_called_within_step": False, "_is_initial": False,
        "_last_lr": PROFILES["simpletuner-cosine"].expected_lrs(bases, eta, e, T_0),
    }


def sine_state(e: int, T_0: int, bases: list[float], eta: float, T_mult: int = 1) -> dict:
    params = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": b} for b in bases]
    sched = Sine(torch.optim.SGD(params, lr=bases[0]), T_0=T_0, T_mult=T_mult, eta_min=eta)
    for _ in range(e):
        sched.step()
    return sched.state_dict()


BUILDERS = {
    "sine": sine_state,
    "simpletuner-sine-v1": v1_state,
    "simpletuner-sine-v2": v2_state,
    "simpletuner-cosine": cosine_state,
}


def ambiguous(true: str, state: dict, T_0: int) -> set[str]:
    """Other profiles whose truncated LRs equal the true one at this position (LR cannot decide)."""
    out = set()
    for name in PROFILE_NAMES:
        if name == true:
            continue
        lrs = PROFILES[name].expected_lrs(state["base_lrs"], state["eta_min"], state["last_epoch"], T_0)
        if all(lr_matches(s, x) for s, x in zip(state["_last_lr"], lrs)):
            out.add(name)
    return out


@FAST
@given(
    true=st.sampled_from(sorted(BUILDERS)),
    T_0=st.integers(2, 60),
    e=st.integers(0, 250),
    base=st.floats(1e-5, 1e-3),
    frac=st.floats(0, 0.5),
    groups=st.integers(1, 2),
)
def test_detects_each_profile(true: str, T_0: int, e: int, base: float, frac: float, groups: int) -> None:
    bases = [base, base / 2][:groups]
    state = BUILDERS[true](e, T_0, bases, base * frac)
    match = detect_profile(state)
    assert true in match.matched_profiles
    assert match.lr_consistent and match.profile in match.matched_profiles
    if not ambiguous(true, state, T_0):
        assert match.profile == true, match.evidence
    assert match.scheduler_kind == ("Cosine" if match.profile == "simpletuner-cosine" else "Sine")
    assert match.evidence and all(isinstance(x, str) for x in match.evidence)


@pytest.mark.parametrize("true", sorted(BUILDERS))
def test_detects_each_profile_mid_cycle(true: str) -> None:
    # T_0=100, e=137: every formula gives a clearly different LR here.
    state = BUILDERS[true](137, 100, [1e-4], 1e-6)
    match = detect_profile(state)
    assert match.profile == true and match.matched_profiles == [true]
    assert match.basis == "lr+keys"


def test_v1_vs_v2_coincide_in_even_half_periods_and_keys_decide() -> None:
    # sin(pi*e/T_0) == sin(pi*(e mod T_0)/T_0) when floor(e/T_0) is even.
    for e in (10, 210):
        assert detect_profile(v1_state(e, 100, [1e-4], 1e-6)).profile == "simpletuner-sine-v1"
        assert detect_profile(v2_state(e, 100, [1e-4], 1e-6)).profile == "simpletuner-sine-v2"
        v1 = v1_state(e, 100, [1e-4], 1e-6)
        assert v1["_last_lr"] == v2_state(e, 100, [1e-4], 1e-6)["_last_lr"]
        assert detect_profile(v1).matched_profiles == ["simpletuner-sine-v1"]  # layout rules v2 out


def test_sine_with_t_mult_2_across_restarts() -> None:
    for e in (0, 9, 10, 29, 30, 31, 55):
        state = sine_state(e, 10, [1e-4], 1e-6, T_mult=2)
        match = detect_profile(state)
        assert match.profile == "sine" and match.lr_consistent
        assert (match.expected.T_cur, match.expected.T_i) == (state["T_cur"], state["T_i"])


def test_expected_under_sine_domain_example() -> None:
    state = v2_state(250, 100, [1e-4], 1e-6)
    match = detect_profile(state)
    exp = match.expected
    assert (exp.last_epoch, exp.T_cur, exp.T_i) == (250, 50, 100)
    assert len(exp.last_lr) == 1 and lr_matches(exp.last_lr[0], 1e-6)
    assert exp.step_count == 0  # the stored value wins
    del state["_step_count"]  # SimpleTuner issue #1137 layout
    assert detect_profile(state).expected.step_count == 251


def test_v2_with_wrong_lr_is_v2_by_keys() -> None:
    state = v2_state(137, 100, [1e-4], 1e-6)
    state["_last_lr"] = [7.7e-5]
    match = detect_profile(state)
    assert match.profile == "simpletuner-sine-v2"
    assert not match.lr_consistent and match.basis == "keys" and match.matched_profiles == []


def test_v2_before_simpletuner_1265_layout() -> None:
    # No super().__init__: no _step_count/_is_initial, never stepped, _last_lr is base_lrs untruncated.
    state = {"T_0": 100, "T_mult": 1, "eta_min": 1e-6, "T_i": 100, "T_cur": -1, "last_epoch": -1,
             "base_lrs": [1e-4], "verbose": False, "_last_lr": [1e-4], "total_steps": 0}
    match = detect_profile(state)
    assert match.profile == "simpletuner-sine-v2" and match.basis == "keys" and match.expected is None


def test_sine_layout_with_rescaled_last_epoch_is_inconsistent() -> None:
    # World-size change: SimpleTuner rewrote last_epoch, the stored LR belongs to the old position.
    state = sine_state(137, 100, [1e-4], 1e-6)
    state["last_epoch"] = 2 * 137
    match = detect_profile(state)
    # The stored LR is the fixed formula's at the stored T_cur: still `sine`, with a position the
    # analysis layer flags (T_cur is not last_epoch's).
    assert match.profile == "sine" and match.lr_consistent
    assert any("differ from the sine position" in e for e in match.evidence)
    assert (match.expected.T_cur, match.expected.T_i) == (74, 100)


def test_constant_lr_is_ambiguous_and_keys_decide() -> None:
    for builder, want in ((v2_state, "simpletuner-sine-v2"), (sine_state, "sine"), (v1_state, "sine")):
        match = detect_profile(builder(37, 10, [1e-4], 1e-4))
        assert match.profile == want and len(match.matched_profiles) >= 2
        assert any("several formulas" in x for x in match.evidence)


def test_one_mismatched_group_is_inconsistent() -> None:
    state = sine_state(137, 100, [1e-4, 5e-5], 1e-6)
    state["_last_lr"][1] += 5e-9
    match = detect_profile(state)
    assert not match.lr_consistent and "sine" not in match.matched_profiles


def test_stored_position_mismatch_is_reported() -> None:
    state = sine_state(137, 100, [1e-4], 1e-6)
    state["T_cur"] = 12
    match = detect_profile(state)
    assert match.profile == "sine" and any("differ from the sine position" in x for x in match.evidence)


# --- schedulers ckptfix does not check --------------------------------------------------------


def test_lambdalr_is_unchecked() -> None:
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 10))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(5):
            opt.step()
            sched.step()
    match = detect_profile(sched.state_dict())
    assert (match.profile, match.scheduler_kind) == (UNCHECKED, "LambdaLR")
    assert match.expected is None and not match.lr_consistent


def test_hard_restarts_is_unchecked() -> None:
    state = {"T_0": 100, "steps_per_epoch": -1, "T_i": 100, "T_mult": 1, "eta_min": 1e-6, "T_cur": 0,
             "last_step": 40, "base_lrs": [1e-4], "last_epoch": 0, "_last_lr": [1e-4], "_step_count": 1}
    match = detect_profile(state)
    assert (match.profile, match.scheduler_kind) == (UNCHECKED, "CosineAnnealingHardRestarts")


@pytest.mark.parametrize("e", [0, 3, 7, 10, 16, 45])
def test_torch_cosine_annealing_warm_restarts_is_unchecked(e: int) -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=10, T_mult=2, eta_min=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(e):
            opt.step()
            sched.step()
    match = detect_profile(sched.state_dict())
    if sched.T_cur == 0:
        # At a restart torch's cosine and the fixed sine both give base_lr: indistinguishable, and
        # read as `sine` (what a repaired SimpleTuner state without steps_per_epoch looks like).
        assert match.profile == "sine" and match.lr_consistent
        return
    assert (match.profile, match.scheduler_kind) == (UNCHECKED, "CosineAnnealingWarmRestarts"), match.evidence


def assert_not_the_crash_fallback(match) -> None:
    """detect_profile catches anything as a last line of defence; odd input must be handled before it."""
    assert not any(e.startswith("could not analyse the state") for e in match.evidence), match.evidence


@pytest.mark.parametrize(
    "state",
    [
        None, 3, "scheduler", [1, 2], b"\x80", {}, {1: 2}, {"lr_lambdas": [None]},
        {"T_0": 100}, {"last_epoch": 5, "_last_lr": [1e-4]},
        {"T_0": math.nan, "last_epoch": "x", "T_cur": 0, "T_i": 1},
        {"T_0": True, "last_epoch": 5, "T_cur": 0, "T_i": 1, "steps_per_epoch": -1},
        {"T_0": 10, "last_epoch": 5, "T_cur": 5, "T_i": 10, "steps_per_epoch": 0, "base_lrs": [math.nan],
         "eta_min": 0.0, "_last_lr": [1e-4]},
        {"T_0": 10, "last_epoch": 5, "T_cur": 5, "T_i": 10, "steps_per_epoch": -1, "base_lrs": [1e-4],
         "eta_min": math.inf, "_last_lr": [math.nan]},
        {"T_0": 10, "last_epoch": 10**30, "T_cur": 5, "T_i": 10, "T_mult": 3, "steps_per_epoch": -1,
         "base_lrs": [1e300], "eta_min": -1e308, "_last_lr": "x"},
    ],
)
def test_garbage_never_raises(state: object) -> None:
    match = detect_profile(state)
    assert match.profile in (*PROFILE_NAMES, UNCHECKED)
    assert match.evidence
    assert_not_the_crash_fallback(match)
    if not isinstance(state, dict) or "T_0" not in state or "last_epoch" not in state:
        assert match.profile == UNCHECKED


_KEYS = st.sampled_from(
    ["T_0", "T_i", "T_mult", "T_cur", "eta_min", "steps_per_epoch", "last_epoch", "base_lrs", "_last_lr",
     "total_steps", "_step_count", "lr_lambdas", "last_step", "verbose", "extra"]
)
_SCALARS = (
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=4)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None, database=None)
@given(st.dictionaries(_KEYS, _VALUES, max_size=12))
def test_random_states_never_raise(state: dict) -> None:
    match = detect_profile(state)
    assert match.profile in (*PROFILE_NAMES, UNCHECKED)
    assert isinstance(match.scheduler_kind, str) and match.evidence
    assert_not_the_crash_fallback(match)


@settings(max_examples=150, deadline=None, database=None)
@given(
    base=st.dictionaries(_KEYS, _VALUES, max_size=5),
    e=st.integers(-3, 10**13),
    T_0=st.integers(-2, 10**6),
    T_mult=st.integers(-1, 5),
)
def test_numeric_fuzz_never_raises(base: dict, e: int, T_0: int, T_mult: int) -> None:
    state = v1_state(5, 10, [1e-4], 1e-6) | base | {"last_epoch": e, "T_0": T_0, "T_mult": T_mult}
    match = detect_profile(state)
    assert match.profile in (*PROFILE_NAMES, UNCHECKED)
    assert_not_the_crash_fallback(match)


def test_truncation_matches_trainer_storage() -> None:
    # A stored value re-truncated once more (drifting by one quantum) is still accepted.
    state = sine_state(33, 100, [1e-4], 1e-6)
    state["_last_lr"] = [truncate_lr(x) for x in state["_last_lr"]]
    assert detect_profile(state).profile == "sine"
