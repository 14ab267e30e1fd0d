"""torch CyclicLR and OneCycleLR: real states reproduced exactly (OneCycleLR with the optimizer's param groups,
where its max_lr and min_lr live)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch.optim import lr_scheduler as L

from ckptfix.schedulers.families import NeedsConfig, get_family
from tests.schedulers.family_helpers import LRS, Run, check_run, the_match

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def cyclic(draw):
    up = draw(st.integers(1, 10))
    down = draw(st.one_of(st.none(), st.integers(1, 10)))
    mode = draw(st.sampled_from(["triangular", "triangular2", "exp_range"]))
    gamma = draw(st.floats(0.9, 1.0))
    lo = draw(st.floats(1e-6, 1e-3))
    hi = lo * draw(st.floats(1.5, 20.0))
    return lambda o: L.CyclicLR(o, lo, hi, up, down, mode, gamma, cycle_momentum=False)


@SETTINGS
@given(make=cyclic(), lrs=LRS, steps=st.integers(0, 80))
def test_cyclic_fresh_run_is_reproduced_exactly(make, lrs, steps):
    check_run(Run(make, lrs, steps, kind="sgd"), "CyclicLR")


@SETTINGS
@given(make=cyclic(), lrs=LRS, steps=st.integers(0, 30), set_to=st.integers(0, 80), more=st.integers(0, 20))
def test_cyclic_continuation_after_a_last_epoch_override_is_torchs(make, lrs, steps, set_to, more):
    check_run(Run(make, lrs, steps, set_to, more, kind="sgd"), "CyclicLR", set_to, more)


@st.composite
def one_cycle(draw):
    total = draw(st.integers(10, 80))
    pct = draw(st.floats(0.1, 0.45))
    assume(pct * total >= 2)  # torch divides by the first phase's length
    anneal = draw(st.sampled_from(["cos", "linear"]))
    three = draw(st.booleans())
    max_lr = draw(st.floats(1e-4, 1e-1))
    return total, lambda o: L.OneCycleLR(o, max_lr, total, pct_start=pct, anneal_strategy=anneal, three_phase=three,
                                         div_factor=draw(st.floats(5, 50)), final_div_factor=draw(st.floats(10, 1e4)))


@SETTINGS
@given(made=one_cycle(), lrs=LRS, data=st.data())
def test_one_cycle_fresh_run_is_reproduced_exactly(made, lrs, data):
    total, make = made
    check_run(Run(make, lrs, data.draw(st.integers(0, total))), "OneCycleLR")


@SETTINGS
@given(made=one_cycle(), lrs=LRS, data=st.data())
def test_one_cycle_continuation_after_a_last_epoch_override_is_torchs(made, lrs, data):
    total, make = made
    steps, set_to = data.draw(st.integers(0, total)), data.draw(st.integers(0, total))
    more = data.draw(st.integers(0, total - set_to))
    check_run(Run(make, lrs, steps, set_to, more), "OneCycleLR", set_to, more)


def test_one_cycle_needs_the_optimizer_groups_and_stops_at_total_steps():
    run = Run(lambda o: L.OneCycleLR(o, 1e-2, 20), [1e-3], 5)
    fam = get_family("OneCycleLR")
    m = the_match(run.before, fam.name)
    assert fam.from_optimizer == ("max_lr", "min_lr")
    with pytest.raises(NeedsConfig, match="max_lr"):
        fam.lrs_at(m, 5)
    with pytest.raises(ValueError, match="total steps"):
        fam.lrs_at(m, 21, run.context())


def test_custom_scale_fn_object_needs_the_configuration():
    class Scale:
        def __init__(self):
            self.k = 2.0

        def __call__(self, x):
            return 1.0 / self.k

    run = Run(lambda o: L.CyclicLR(o, 1e-4, 1e-3, 3, scale_fn=Scale(), cycle_momentum=False), [1e-3], 4, kind="sgd")
    fam = get_family("CyclicLR")
    m = the_match(run.before, fam.name)
    assert m.params["custom_scale_fn"] and any("scale_fn" in e for e in m.evidence)
    with pytest.raises(NeedsConfig, match="scale_fn"):
        fam.lrs_at(m, 4)
