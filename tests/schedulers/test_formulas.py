"""Pure-math tests for ckptfix.schedulers.formulas (no torch)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ckptfix.schedulers.formulas import (
    LR_QUANTUM,
    cosine_position,
    lr_matches,
    simpletuner_cosine_lr,
    simpletuner_sine_v1_lr,
    simpletuner_sine_v2_lr,
    sine_lr,
    sine_position,
    sine_step_count,
    truncate_lr,
    v1_position,
)
from ckptfix.schedulers.profiles import PROFILES

FAST = settings(max_examples=150, deadline=None, database=None)


# --- brute-force reference steppers (one step at a time, as the schedulers do it) -----------


def sgdr_walk(T_0: int, T_mult: int, n: int) -> list[tuple[int, int]]:
    """(T_cur, T_i) after each of n+1 steps, stepping like torch CosineAnnealingWarmRestarts."""
    t_cur, t_i, out = 0, T_0, [(0, T_0)]
    for _ in range(n):
        t_cur += 1
        if t_cur >= t_i:
            t_cur -= t_i
            t_i *= T_mult
        out.append((t_cur, t_i))
    return out


def v1_walk(T_0: int, T_mult: int, n: int) -> list[tuple[int, int]]:
    """(T_cur, T_i) of SimpleTuner's pre-05a3c37 Sine.step: T_cur = step % T_i, then grow T_i."""
    t_i, out = T_0, []
    for step in range(n + 1):
        t_cur = step % t_i
        if step != 0 and step % t_i == 0:
            t_i *= T_mult
        out.append((t_cur, t_i))
    return out


def cycle_start(T_0: int, T_mult: int, n: int) -> int:
    return n * T_0 if T_mult == 1 else T_0 * (T_mult**n - 1) // (T_mult - 1)


# --- sine_position ----------------------------------------------------------------------------


@pytest.mark.parametrize("T_0", [1, 2, 3, 5, 7])
@pytest.mark.parametrize("T_mult", [1, 2, 3, 4])
def test_sine_position_equals_stepping_exhaustively(T_0: int, T_mult: int) -> None:
    walk = sgdr_walk(T_0, T_mult, 3000)
    assert [sine_position(e, T_0, T_mult) for e in range(len(walk))] == walk


@FAST
@given(T_0=st.integers(1, 60), T_mult=st.integers(1, 5), e=st.integers(0, 4000))
def test_sine_position_equals_stepping(T_0: int, T_mult: int, e: int) -> None:
    assert sine_position(e, T_0, T_mult) == sgdr_walk(T_0, T_mult, e)[-1]


@FAST
@given(T_0=st.integers(1, 10**6), T_mult=st.integers(2, 7), n=st.integers(0, 40))
def test_sine_position_exact_at_restart_boundaries(T_0: int, T_mult: int, n: int) -> None:
    start = cycle_start(T_0, T_mult, n)
    t_i = T_0 * T_mult**n
    assert sine_position(start, T_0, T_mult) == (0, t_i)
    if start > 0:
        assert sine_position(start - 1, T_0, T_mult) == (t_i // T_mult - 1, t_i // T_mult)
    assert sine_position(start + t_i - 1, T_0, T_mult) == (t_i - 1, t_i)


def _is_position_of(e: int, T_0: int, T_mult: int, t_cur: int, t_i: int) -> bool:
    """The unique characterisation: T_i = T_0*T_mult**n, 0 <= T_cur < T_i, e - T_cur = start of cycle n."""
    if T_mult == 1:
        return t_i == T_0 and 0 <= t_cur < t_i and (e - t_cur) % T_0 == 0
    n, p = 0, 1
    while T_0 * p < t_i:
        p *= T_mult
        n += 1
    return T_0 * p == t_i and 0 <= t_cur < t_i and e - t_cur == cycle_start(T_0, T_mult, n)


@FAST
@given(
    T_0=st.integers(1, 10**5),
    T_mult=st.integers(1, 6),
    e=st.integers(10**9, 10**12) | st.sampled_from([10**9, 10**12, 2**40 - 1, 2**40]),
)
def test_sine_position_large_e(T_0: int, T_mult: int, e: int) -> None:
    t_cur, t_i = sine_position(e, T_0, T_mult)
    assert isinstance(t_cur, int) and isinstance(t_i, int)
    assert _is_position_of(e, T_0, T_mult, t_cur, t_i)


@pytest.mark.parametrize("n", range(1, 41))
def test_sine_position_large_boundaries_t_mult_2(n: int) -> None:
    # 100*(2**n - 1) reaches ~1.1e14: exactly where a float log is off by one.
    e = 100 * (2**n - 1)
    assert sine_position(e, 100, 2) == (0, 100 * 2**n)
    assert sine_position(e - 1, 100, 2) == (100 * 2 ** (n - 1) - 1, 100 * 2 ** (n - 1))


def test_sine_position_t_mult_1_is_modulo() -> None:
    assert sine_position(10**12 + 7, 1000, 1) == (7, 1000)
    assert sine_position(250, 100, 1) == (50, 100)


@pytest.mark.parametrize(
    "args",
    [
        (-1, 10, 1), (0, 0, 1), (0, -5, 1), (0, 10, 0), (1.0, 10, 1),
        (True, 10, 1), (5, 10.0, 1), ("3", 10, 1), (None, 10, 1),
    ],
)
def test_sine_position_rejects_bad_input(args: tuple) -> None:
    with pytest.raises(ValueError):
        sine_position(*args)


# --- other positions ----------------------------------------------------------------------


@pytest.mark.parametrize("T_0", [1, 3, 10])
@pytest.mark.parametrize("T_mult", [1, 2, 3])
def test_v1_position_equals_simpletuner_stepping(T_0: int, T_mult: int) -> None:
    walk = v1_walk(T_0, T_mult, 2000)
    assert [v1_position(e, T_0, T_mult) for e in range(len(walk))] == walk


@pytest.mark.parametrize("spe", [-1, 1, 7])
def test_cosine_position_matches_simpletuner_cosine_step(spe: int) -> None:
    for e in range(0, 500):
        t_cur = (e // spe) + (e % spe) / spe
        if t_cur >= 50:
            t_cur -= 50
        assert cosine_position(e, 50, spe) == (t_cur, 50)
    # The default steps_per_epoch=-1 gives T_cur = -last_epoch: a period of 2*T_0.
    assert cosine_position(123, 50) == (-123.0, 50)


# --- LR formulas ------------------------------------------------------------------------------


def test_domain_doc_example() -> None:
    base, eta = 1e-4, 1e-6

    def lr(e: int) -> float:
        return sine_lr(base, eta, *sine_position(e, 100, 1))

    assert lr(0) == base
    assert math.isclose(lr(50), eta, rel_tol=0, abs_tol=1e-15)
    assert math.isclose(lr(25), 5.05e-5, rel_tol=0, abs_tol=1e-15)
    assert sine_position(250, 100, 1) == (50, 100)
    assert lr_matches(truncate_lr(lr(250)), 1e-6)
    assert lr_matches(truncate_lr(lr(25)), 5.05e-5)
    assert lr(100) == base


def test_v1_half_floor_and_v2_period() -> None:
    base, eta = 1e-4, 0.0
    v1 = [simpletuner_sine_v1_lr(base, eta, *v1_position(e, 100, 1)) for e in range(400)]
    assert min(v1) >= (base + eta) / 2 - 1e-18  # the "half LR floor" of issue #954
    assert v1[0] == pytest.approx(base / 2) and v1[50] == pytest.approx(base)
    v2 = [simpletuner_sine_v2_lr(base, eta, e, 100) for e in range(400)]
    assert v2[0] == pytest.approx(base / 2) and v2[50] == pytest.approx(base)
    assert v2[150] == pytest.approx(eta, abs=1e-18)  # minimum at 3*T_0/2: period 2*T_0
    assert v2[37] == pytest.approx(v2[237])
    cos = [simpletuner_cosine_lr(base, eta, *cosine_position(e, 100)) for e in range(400)]
    assert cos[0] == base and cos[100] == pytest.approx(eta, abs=1e-18) and cos[200] == pytest.approx(base)


@FAST
@given(
    base=st.floats(1e-7, 1e-2),
    frac=st.floats(0, 1),
    T_0=st.integers(1, 10_000),
    e=st.integers(0, 10**7),
)
def test_lrs_stay_in_range(base: float, frac: float, T_0: int, e: int) -> None:
    eta = base * frac
    lo, hi = eta - 1e-18, base + 1e-18
    assert lo <= sine_lr(base, eta, *sine_position(e, T_0, 1)) <= hi
    assert lo <= simpletuner_sine_v1_lr(base, eta, *v1_position(e, T_0, 1)) <= hi
    assert lo <= simpletuner_sine_v2_lr(base, eta, e, T_0) <= hi
    assert lo <= simpletuner_cosine_lr(base, eta, *cosine_position(e, T_0)) <= hi


# --- truncation and comparison ----------------------------------------------------------------


def test_truncate_is_the_trainer_expression() -> None:
    for x in (1e-4, 5.05e-5, 1.23456789e-5, 9.99999999e-5, 3e-9, 0.0, 1.0):
        assert truncate_lr(x) == math.floor(x * 1e9) / 1e9
    assert truncate_lr(1.2345678919e-5) == 1.2345e-5  # floors to 1e-9, never rounds up
    assert truncate_lr(1.23456789e-4) == 1.23456e-4
    assert truncate_lr(1e-10) == 0.0


@FAST
@given(st.floats(0, 1e-1, allow_subnormal=False))
def test_lr_matches_own_truncation(x: float) -> None:
    t = truncate_lr(x)
    assert lr_matches(t, x)
    assert lr_matches(truncate_lr(t), x)  # re-truncation may drift by a quantum: still accepted
    assert not lr_matches(t + 3 * LR_QUANTUM, x)
    assert not lr_matches(t - 3 * LR_QUANTUM, x)


def test_lr_matches_edges() -> None:
    assert lr_matches(5e-5, 5e-5)
    assert lr_matches(5e-5 + 1e-9, 5e-5)
    assert lr_matches(5e-5 - 1e-9, 5e-5)
    assert not lr_matches(5e-5 + 2.5e-9, 5e-5)
    assert not lr_matches(5e-5 - 2.5e-9, 5e-5)
    assert lr_matches(0.0, 0.0)
    for bad in (math.nan, math.inf, -math.inf, "5e-5", None, [5e-5]):
        assert not lr_matches(bad, 5e-5)  # type: ignore[arg-type]
        assert not lr_matches(5e-5, bad)  # type: ignore[arg-type]


def test_tolerance_far_below_profile_differences() -> None:
    base, eta = 1e-4, 1e-6
    for e in range(0, 400):
        fixed = truncate_lr(sine_lr(base, eta, *sine_position(e, 100, 1)))
        for other in (
            simpletuner_sine_v1_lr(base, eta, *v1_position(e, 100, 1)),
            simpletuner_sine_v2_lr(base, eta, e, 100),
        ):
            if abs(other - fixed) > 1e-8:
                assert not lr_matches(fixed, other)
    # at the mid-cycle minimum, v1/v2 sit ~5e-5 away: 50,000 truncation steps
    assert abs(simpletuner_sine_v1_lr(base, eta, 50, 100) - sine_lr(base, eta, 50, 100)) > 4e4 * LR_QUANTUM


def test_sine_step_count() -> None:
    assert sine_step_count(0) == 1
    assert sine_step_count(-1) == 0
    assert sine_step_count(10**12) == 10**12 + 1
    with pytest.raises(ValueError):
        sine_step_count(-2)


# --- profiles reproduce SimpleTuner's classes step by step ------------------------------------


@pytest.mark.parametrize("T_0", [4, 30])
def test_profiles_reproduce_simpletuner_stepping(T_0: int) -> None:
    """Transcriptions of SimpleTuner's step()/get_lr() (custom_schedule.py), stepped from -1."""
    base, eta = 3e-4, 2e-6
    t_i = T_0
    for step in range(0, 6 * T_0):
        # pre-05a3c37 Sine: T_cur = step % T_i, then T_i grows at non-zero multiples (T_mult=1 here)
        t_cur = step % t_i
        v1 = math.floor((eta + (base - eta) * (1 - math.cos(math.pi / 2 + math.pi * t_cur / t_i)) / 2) * 1e9) / 1e9
        # 05a3c37+ Sine: total_steps = step
        v2 = math.floor((eta + (base - eta) * (0.5 * (1 + math.sin(math.pi * step / T_0)))) * 1e9) / 1e9
        # Cosine with steps_per_epoch=-1
        c_cur = (step // -1) + (step % -1) / -1
        cos = math.floor((eta + (base - eta) * (1 + math.cos(math.pi * c_cur / T_0)) / 2) * 1e9) / 1e9
        assert PROFILES["simpletuner-sine-v1"].expected_lrs([base], eta, step, T_0) == [v1]
        assert PROFILES["simpletuner-sine-v2"].expected_lrs([base], eta, step, T_0) == [v2]
        assert PROFILES["simpletuner-cosine"].expected_lrs([base], eta, step, T_0) == [cos]
        fixed = math.floor((eta + (base - eta) * (0.5 + 0.5 * math.cos(2 * math.pi * (step % T_0) / T_0))) * 1e9) / 1e9
        assert PROFILES["sine"].expected_lrs([base], eta, step, T_0) == [fixed]


def test_profile_registry() -> None:
    from ckptfix.schedulers.profiles import PROFILE_NAMES, get_profile

    assert PROFILE_NAMES == ("sine", "simpletuner-sine-v1", "simpletuner-sine-v2", "simpletuner-cosine")
    assert all(get_profile(n).name == n and get_profile(n).description for n in PROFILE_NAMES)
    with pytest.raises(KeyError):
        get_profile("unchecked")
    with pytest.raises(TypeError):
        PROFILES["x"] = PROFILES["sine"]  # type: ignore[index]
