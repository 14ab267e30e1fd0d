"""The replay machinery: positions before the start are refused, far positions switch to the closed form, a
resume continues from the optimizer's LR when it is given."""

from __future__ import annotations

import pytest
import torch

from ckptfix.schedulers.families import FAR_REL_TOL, REL_TOL, Context, NeedsConfig, get_family, recognise_all
from ckptfix.schedulers.families.simulated import EXACT_STEPS, lr_groups, need
from tests.schedulers.family_helpers import Run

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


# --- trajectories: lrs_many / advance_many are lrs_at / advance at each position, from one replay -------------

_TRAJECTORY_MAKERS = {
    "StepLR": lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5),
    "CosineAnnealingLR": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 12, 1e-5),
    "SequentialLR": lambda o: torch.optim.lr_scheduler.SequentialLR(
        o, [torch.optim.lr_scheduler.LinearLR(o, 0.1, 1.0, 3), torch.optim.lr_scheduler.CosineAnnealingLR(o, 9)], [3]),
    "CosineAnnealingWarmRestarts": lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, 4, 2, 1e-5),
    "CyclicLR": lambda o: torch.optim.lr_scheduler.CyclicLR(o, 1e-4, 1e-3, 3),
    "LambdaLR": lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: min(1.0, (e + 1) / 5)),
}


@pytest.mark.parametrize("name", sorted(_TRAJECTORY_MAKERS))
def test_trajectories_are_torchs(name: str) -> None:
    """A real run's LRs at every step equal ``lrs_many`` from the saved state's parameters, and its steps after the
    save equal ``advance_many`` from the saved state (and each equals its one-position call)."""
    make = _TRAJECTORY_MAKERS[name]
    whole = Run(make, [1e-3, 3e-4], 0)
    lrs = []
    for _ in range(30):
        whole.opt.step()
        whole.sched.step()
        lrs.append([g["lr"] for g in whole.opt.param_groups])
    run = Run(make, [1e-3, 3e-4], 8)
    match = next(m for m in recognise_all(run.before) if m.family == name)
    family = get_family(name)
    ctx = Context(lr_lambda=lambda e: min(1.0, (e + 1) / 5)) if name == "LambdaLR" else None
    assert family.lrs_many(match, list(range(1, 31)), ctx) == lrs
    assert family.lrs_many(match, [3, 9, 20], ctx) == [family.lrs_at(match, p, ctx) for p in (3, 9, 20)]
    steps = list(range(0, 10))
    assert family.advance_many(match, None, None, steps, ctx)[1:] == lrs[8:17]
    assert family.advance_many(match, None, 3, [0, 1, 5], ctx) == [family.advance(match, None, 3, k, ctx)
                                                                    for k in (0, 1, 5)]
    if name in ("StepLR", "CosineAnnealingLR", "SequentialLR"):  # replayed: positions must ascend
        with pytest.raises(ValueError):
            family.lrs_many(match, [5, 3], ctx)
