"""torch CosineAnnealingWarmRestarts: real states reproduced exactly, fresh and after a last_epoch override
(T_cur/T_i then go on from their stored values, not from last_epoch)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.optim import lr_scheduler as L

from ckptfix.schedulers.families import get_family, lrs_agree, recognise_all
from tests.schedulers.family_helpers import LRS, Run, check_run, the_match

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAKE = st.builds(lambda t0, tm, eta: (lambda o: L.CosineAnnealingWarmRestarts(o, t0, tm, eta)),
                 st.integers(1, 12), st.integers(1, 3), st.sampled_from([0.0, 1e-7, 1e-6]))


@SETTINGS
@given(make=MAKE, lrs=LRS, steps=st.integers(0, 120))
def test_fresh_run_is_reproduced_exactly(make, lrs, steps):
    check_run(Run(make, lrs, steps), "CosineAnnealingWarmRestarts")


@SETTINGS
@given(make=MAKE, lrs=LRS, steps=st.integers(0, 40), set_to=st.integers(0, 100), more=st.integers(0, 30))
def test_continuation_after_a_last_epoch_override_is_torchs(make, lrs, steps, set_to, more):
    check_run(Run(make, lrs, steps, set_to, more), "CosineAnnealingWarmRestarts", set_to, more)


def test_override_moves_last_epoch_but_not_t_cur():
    """What a trainer's resume override leaves: last_epoch at the new position, T_cur/T_i where they were plus
    the steps since; state_at says what the position's own T_cur/T_i and LR would be."""
    run = Run(lambda o: L.CosineAnnealingWarmRestarts(o, 10, 1, 0.0), [1e-3], 3, set_last_epoch=20, more=2)
    fam = get_family("CosineAnnealingWarmRestarts")
    after = the_match(run.after, fam.name)
    assert after.position == 22 and after.params["T_cur"] == 5
    want = fam.state_at(after, 22)
    assert (want["T_cur"], want["T_i"]) == (2, 10)
    assert not lrs_agree(run.after["_last_lr"], want["_last_lr"])


def test_simpletuner_and_ckptfix_sine_layouts_are_not_claimed():
    """torch's layout at a restart also fits the sine classes' (their LR is base_lr there too): all are named;
    a layout only SimpleTuner's or ckptfix's classes write is never torch's."""
    state = {"T_0": 10, "T_i": 10, "T_mult": 1, "T_cur": 0, "eta_min": 0.0, "base_lrs": [1e-3], "last_epoch": 0,
             "_last_lr": [1e-3]}
    assert [m.family for m in recognise_all(state)][:1] == ["CosineAnnealingWarmRestarts"]
    assert "sine" in [m.family for m in recognise_all(state)]
    for extra in ("steps_per_epoch", "total_steps", "last_step"):
        assert "CosineAnnealingWarmRestarts" not in [m.family for m in recognise_all({**state, extra: -1})]
