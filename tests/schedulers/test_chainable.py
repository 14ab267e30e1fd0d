"""torch's chainable schedulers: states written by real torch, read by ckptfix, reproduced bit for bit (fresh,
and after a ``last_epoch`` set from outside, as a trainer's resume does); the closed form used for far positions
stays within the tolerance."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.optim import lr_scheduler as L

from ckptfix.schedulers.families import FAR_REL_TOL, REL_TOL, get_family, lrs_agree
from ckptfix.schedulers.families.simulated import EXACT_STEPS
from tests.schedulers.family_helpers import LRS, Run, check_run, the_match

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FACTOR = st.floats(0.05, 1.0)
GAMMA = st.floats(0.5, 0.999)

MAKERS = {
    "StepLR": st.builds(lambda s, g: (lambda o: L.StepLR(o, s, g)), st.integers(1, 7), GAMMA),
    "MultiStepLR": st.builds(lambda ms, g: (lambda o: L.MultiStepLR(o, ms, g)),
                             st.lists(st.integers(1, 40), min_size=1, max_size=5), GAMMA),
    "ConstantLR": st.builds(lambda f, n: (lambda o: L.ConstantLR(o, f, n)), FACTOR, st.integers(0, 30)),
    "LinearLR": st.builds(lambda a, b, n: (lambda o: L.LinearLR(o, a, b, n)), FACTOR, st.floats(0.0, 1.0),
                          st.integers(1, 30)),
    "ExponentialLR": st.builds(lambda g: (lambda o: L.ExponentialLR(o, g)), GAMMA),
    "PolynomialLR": st.builds(lambda n, p: (lambda o: L.PolynomialLR(o, n, p)), st.integers(1, 40), st.floats(0.5, 3.0)),
    "CosineAnnealingLR": st.builds(lambda t, e: (lambda o: L.CosineAnnealingLR(o, t, e)), st.integers(1, 25),
                                   st.sampled_from([0.0, 1e-7, 1e-6])),
}

EXAMPLES = {
    "StepLR": lambda o: L.StepLR(o, 2, 0.5), "MultiStepLR": lambda o: L.MultiStepLR(o, [1, 2], 0.5),
    "ConstantLR": lambda o: L.ConstantLR(o, 0.5, 2), "LinearLR": lambda o: L.LinearLR(o, 0.5, 1.0, 2),
    "ExponentialLR": lambda o: L.ExponentialLR(o, 0.9), "PolynomialLR": lambda o: L.PolynomialLR(o, 5, 2.0),
    "CosineAnnealingLR": lambda o: L.CosineAnnealingLR(o, 5, 0.0),
}


@pytest.mark.parametrize("family", sorted(MAKERS))
@SETTINGS
@given(data=st.data(), lrs=LRS, steps=st.integers(0, 60))
def test_fresh_run_is_reproduced_exactly(family, data, lrs, steps):
    run = Run(data.draw(MAKERS[family]), lrs, steps)
    check_run(run, family)


@pytest.mark.parametrize("family", sorted(MAKERS))
@SETTINGS
@given(data=st.data(), lrs=LRS, steps=st.integers(0, 30), set_to=st.integers(0, 80), more=st.integers(0, 20))
def test_continuation_after_a_last_epoch_override_is_torchs(family, data, lrs, steps, set_to, more):
    """A resume that sets last_epoch from outside: torch's recursion continues from the stored LR."""
    run = Run(data.draw(MAKERS[family]), lrs, steps, set_to, more)
    check_run(run, family, set_to, more)


def test_cosine_continuation_is_not_the_closed_form():
    """The reason advance exists: after an override the LR is not the closed form at the new position."""
    run = Run(lambda o: L.CosineAnnealingLR(o, 100, 0.0), [1e-3], 10, set_last_epoch=50, more=5)
    fam = get_family("CosineAnnealingLR")
    m = the_match(run.before, "CosineAnnealingLR")
    resumed = fam.advance(m, set_last_epoch=50, steps=5)
    assert resumed == run.lrs_now
    assert not lrs_agree(resumed, fam.lrs_at(m, 55))  # 9.7e-4 (from the stored LR) vs 4.2e-4 (closed form)


@pytest.mark.parametrize(("t_max", "eta_min"), [(100_000, 1e-6), (7, 1e-6)])
def test_far_positions_use_the_closed_form_within_the_far_tolerance(t_max, eta_min):
    """Beyond EXACT_STEPS the closed form answers in O(1). torch's recursion differs from it: the worst case is
    a long cosine with eta_min > 0, whose bottom (1 + cos(pi*e/T_max) near 0) the closed form computes with a
    cancellation error the recursion then carries: 7.5e-10 of the base LR, i.e. beyond REL_TOL near eta_min,
    within FAR_REL_TOL everywhere (measured over the 100 positions after EXACT_STEPS here, and over 1,000,000
    steps in docs/formulas.md)."""
    fam = get_family("CosineAnnealingLR")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    sched = L.CosineAnnealingLR(opt, t_max, eta_min)
    m = the_match(dict(sched.state_dict()), "CosineAnnealingLR")
    assert fam.tolerance(EXACT_STEPS) == REL_TOL and fam.tolerance(EXACT_STEPS + 1) == FAR_REL_TOL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # step() without optimizer.step(): the LRs are the same
        for _ in range(EXACT_STEPS):
            sched.step()
    worst = 0.0
    for e in range(EXACT_STEPS + 1, EXACT_STEPS + 101):
        sched.step()
        far, exact = fam.lrs_at(m, e), sched.get_last_lr()  # the closed form; torch's recursion
        assert lrs_agree(exact, far, rel_tol=fam.tolerance(e))
        worst = max(worst, abs(far[0] - exact[0]) / 1e-4)
    assert worst < 1e-9


@pytest.mark.parametrize("family", sorted(MAKERS))
def test_state_keys_identify_the_class_alone(family):
    """Each chainable state is recognised as its own class and as no other family."""
    from ckptfix.schedulers.families import recognise_all

    run = Run(EXAMPLES[family], [1e-3, 2e-3], 3)
    assert [m.family for m in recognise_all(run.before)] == [family]


def test_unusable_parameter_is_named():
    state = {"step_size": "three", "gamma": 0.5, "base_lrs": [0.1], "last_epoch": 2, "_step_count": 3, "_last_lr": [0.1]}
    fam = get_family("StepLR")
    m = fam.recognise(state)
    assert m is not None and any("step_size" in e for e in m.evidence)
    with pytest.raises(ValueError, match="step_size"):
        fam.lrs_at(m, 2)
    assert math.isclose(get_family("ExponentialLR").lrs_at(
        get_family("ExponentialLR").recognise({"gamma": 0.5, "base_lrs": [1.0], "last_epoch": 3}), 3)[0], 0.125)
