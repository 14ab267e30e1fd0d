"""The replay machinery: positions before the start are refused, far positions switch to the closed form, a
resume continues from the optimizer's LR when it is given."""

from __future__ import annotations

import pytest

from ckptfix.schedulers.families import FAR_REL_TOL, REL_TOL, NeedsConfig, get_family
from ckptfix.schedulers.families.simulated import EXACT_STEPS, lr_groups, need

STEP = {"step_size": 2, "gamma": 0.5, "base_lrs": [1.0], "last_epoch": 3, "_step_count": 4, "_last_lr": [0.5]}


def test_positions_and_tolerance():
    fam = get_family("StepLR")
    m = fam.recognise(STEP)
    assert fam.lrs_at(m, 3) == [0.5] and fam.lrs_at(m, 4) == [0.25]
    with pytest.raises(ValueError, match="before the first step"):
        fam.lrs_at(m, -1)
    assert fam.lrs_at(m, EXACT_STEPS + 2) == [0.5 ** ((EXACT_STEPS + 2) // 2)]  # closed form, O(1)
    assert fam.tolerance(EXACT_STEPS) == REL_TOL and fam.tolerance(EXACT_STEPS + 1) == FAR_REL_TOL
    assert get_family("CyclicLR").tolerance(10 ** 9) == REL_TOL  # no recursion: exact anywhere


def test_advance_starts_from_the_given_lrs():
    fam = get_family("StepLR")
    m = fam.recognise(STEP)
    assert fam.advance(m, steps=1) == [0.25]
    assert fam.advance(m, lrs=[0.8], steps=1) == [0.4]  # the optimizer's LR, if it differs from _last_lr
    assert fam.advance(m, set_last_epoch=10, steps=1) == [0.5]  # 11 is no multiple of step_size: unchanged
    with pytest.raises(NeedsConfig, match="no current LR"):
        fam.advance(fam.recognise({**STEP, "_last_lr": "x"}), steps=1)


def test_need_and_lr_groups():
    m = get_family("StepLR").recognise({**STEP, "gamma": None})
    with pytest.raises(ValueError, match="unusable or missing gamma"):
        need(m, "step_size", "gamma")
    assert lr_groups([1.0], [{"max_lr": 2, "min_lr": 0.1}], ("max_lr", "min_lr")) == [{"max_lr": 2, "min_lr": 0.1}]
    assert lr_groups([1.0], [{"max_lr": True, "min_lr": 0.1}], ("max_lr", "min_lr")) is None
    assert lr_groups([1.0, 2.0], [{"max_lr": 2, "min_lr": 0.1}], ("max_lr", "min_lr")) is None
