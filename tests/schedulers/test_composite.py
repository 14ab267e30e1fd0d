"""torch SequentialLR and ChainedScheduler: real nested states reproduced exactly, members included."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.optim import lr_scheduler as L

from ckptfix.schedulers.families import get_family, recognise_all, torch_sim
from tests.schedulers.family_helpers import LRS, Run, check_run, the_match

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: members a run combines (warmup, then decay), each a function of the optimizer
MEMBER = st.sampled_from([
    lambda o: L.LinearLR(o, 0.1, 1.0, 5),
    lambda o: L.ConstantLR(o, 0.5, 4),
    lambda o: L.CosineAnnealingLR(o, 12, 1e-6),
    lambda o: L.ExponentialLR(o, 0.9),
    lambda o: L.StepLR(o, 3, 0.5),
    lambda o: L.PolynomialLR(o, 10, 2.0),
    lambda o: L.CosineAnnealingWarmRestarts(o, 4, 2, 0.0),
    lambda o: L.MultiStepLR(o, [2, 6], 0.5),
])


@st.composite
def sequential(draw):
    members = draw(st.lists(MEMBER, min_size=2, max_size=3))
    milestones = sorted(draw(st.lists(st.integers(1, 25), min_size=len(members) - 1, max_size=len(members) - 1,
                                      unique=True)))
    return lambda o: L.SequentialLR(o, [m(o) for m in members], milestones)


@st.composite
def chained(draw):
    members = draw(st.lists(MEMBER, min_size=1, max_size=3))
    return lambda o: L.ChainedScheduler([m(o) for m in members])


@SETTINGS
@given(make=sequential(), lrs=LRS, steps=st.integers(0, 40))
def test_sequential_fresh_run_is_reproduced_exactly(make, lrs, steps):
    check_run(Run(make, lrs, steps), "SequentialLR")


@SETTINGS
@given(make=sequential(), lrs=LRS, steps=st.integers(0, 30), set_to=st.integers(0, 40), more=st.integers(0, 15))
def test_sequential_continuation_after_a_last_epoch_override_is_torchs(make, lrs, steps, set_to, more):
    check_run(Run(make, lrs, steps, set_to, more), "SequentialLR", set_to, more)


@SETTINGS
@given(make=chained(), lrs=LRS, steps=st.integers(0, 40))
def test_chained_fresh_run_is_reproduced_exactly(make, lrs, steps):
    check_run(Run(make, lrs, steps), "ChainedScheduler")


@SETTINGS
@given(make=chained(), lrs=LRS, steps=st.integers(0, 30), more=st.integers(0, 15))
def test_chained_continuation_is_torchs(make, lrs, steps, more):
    """A ChainedScheduler has no last_epoch to override: a resume only continues it."""
    run = Run(make, lrs, steps)
    fam = get_family("ChainedScheduler")
    m = the_match(run.before, fam.name)
    more_run = Run(make, lrs, steps + more)
    assert fam.advance(m, steps=more) == list(more_run.before["_last_lr"])
    with pytest.raises(ValueError, match="no last_epoch"):
        fam.advance(m, set_last_epoch=3)


def test_a_chained_trajectory_is_one_replay(monkeypatch):
    """advance_many steps the chain once per step of the longest trajectory, as torch does (each k replayed
    from the start made the 512-step preview scan 130,816 steps), and gives torch's LRs at every k."""
    make = lambda o: L.ChainedScheduler([L.StepLR(o, 3, 0.5), L.ExponentialLR(o, 0.9)])  # noqa: E731
    run, later = Run(make, [0.1], 8), Run(make, [0.1], 8 + 40)
    fam = get_family("ChainedScheduler")
    m = the_match(run.before, fam.name)
    real, count = torch_sim.SimChained.step, []
    monkeypatch.setattr(torch_sim.SimChained, "step", lambda self: count.append(1) or real(self))
    out = fam.advance_many(m, steps=list(range(41)))
    assert len(count) == 40
    assert out[-1] == list(later.before["_last_lr"])


def test_members_are_named_and_an_unknown_member_is_said():
    run = Run(lambda o: L.SequentialLR(o, [L.LinearLR(o, 0.1, 1.0, 3), L.CosineAnnealingLR(o, 10)], [3]), [1e-3], 5)
    m = the_match(run.before, "SequentialLR")
    assert [c.family for c in m.children] == ["LinearLR", "CosineAnnealingLR"] and m.position == 5
    odd = dict(run.before, _schedulers=[run.before["_schedulers"][0], {"foo": 1}])
    (m2,) = recognise_all(odd)
    assert not m2.children and any("_schedulers[1]" in e for e in m2.evidence)
    with pytest.raises(ValueError, match="members not recognised"):
        get_family("SequentialLR").lrs_at(m2, 5)
