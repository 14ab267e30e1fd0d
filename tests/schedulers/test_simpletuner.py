"""SimpleTuner's own classes (3.1.6's real Sine v2, Cosine, CosineAnnealingHardRestarts; the pre-fix v1 as
fixtures/legacy_schedulers.py transcribes it) and ckptfix's fixed Sine, as families: recognised from their
states and their truncated LRs reproduced, fresh and after SimpleTuner's resume sets last_epoch."""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ckptfix.schedulers.families import get_family, lrs_agree, recognise_all
from tests.helpers import FIXTURES
from tests.schedulers.family_helpers import Run, the_match

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("simpletuner") is None and not os.environ.get("CI"),
    reason="simpletuner 3.1.6 not installed (fixtures/simpletuner_runs/README.md)")
SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LRS = st.lists(st.floats(1e-6, 1e-3), min_size=1, max_size=2)


def classes():
    sys.path.insert(0, str(FIXTURES / "simpletuner_runs"))
    sys.path.insert(0, str(FIXTURES))
    import legacy_schedulers
    import st_sim

    from ckptfix.schedulers import Sine

    cs = st_sim.simpletuner().custom_schedule
    return {
        "simpletuner-sine-v2": lambda o, t0, eta: cs.Sine(o, T_0=t0, T_mult=1, eta_min=eta),
        "simpletuner-cosine": lambda o, t0, eta: cs.Cosine(o, T_0=t0, T_mult=1, eta_min=eta),
        "simpletuner-hard-restarts": lambda o, t0, eta: cs.CosineAnnealingHardRestarts(o, T_0=t0, T_mult=1, eta_min=eta),
        "simpletuner-sine-v1": lambda o, t0, eta: legacy_schedulers.SimpleTunerSineV1(o, T_0=t0, T_mult=1, eta_min=eta),
        "sine": lambda o, t0, eta: Sine(o, T_0=t0, T_mult=1, eta_min=eta),
    }


@pytest.mark.parametrize("family", ["simpletuner-sine-v2", "simpletuner-cosine", "simpletuner-hard-restarts",
                                    "simpletuner-sine-v1", "sine"])
@SETTINGS
@given(lrs=LRS, t0=st.integers(1, 30), eta=st.sampled_from([0.0, 1e-7, 4e-7]), steps=st.integers(0, 90),
       set_to=st.integers(0, 90), more=st.integers(1, 10))
def test_real_classes_are_reproduced(family, lrs, t0, eta, steps, set_to, more):
    make = classes()[family]
    resume_key = "last_step" if family == "simpletuner-hard-restarts" else "last_epoch"
    run = Run(lambda o: make(o, t0, eta), lrs, steps)
    fam = get_family(family)
    m = the_match(run.before, family)
    assert m.truncated and fam.truncated
    stored = list(run.before["_last_lr"])
    assert fam.lrs_at(m, m.position) == stored
    assert lrs_agree(stored, fam.lrs_at(m, m.position), truncated=True)
    # SimpleTuner's resume: load the state, set the position from outside, step on
    sched = run.sched
    setattr(sched, resume_key, set_to)
    for _ in range(more):
        run.opt.step()
        sched.step()
    assert fam.advance(m, set_last_epoch=set_to, steps=more) == sched.get_last_lr()


def test_families_of_one_state_and_what_decides():
    """A v2 state is v2 alone; a fixed-sine state (steps_per_epoch layout) fits sine and v1 by keys, and the
    stored LR tells them apart; a state at a restart fits torch's CAWR too."""
    make = classes()
    v2 = Run(lambda o: make["simpletuner-sine-v2"](o, 10, 0.0), [1e-4], 7)
    assert [m.family for m in recognise_all(v2.before)] == ["simpletuner-sine-v2"]
    fixed = Run(lambda o: make["sine"](o, 10, 0.0), [1e-4], 7)
    found = {m.family: m for m in recognise_all(fixed.before)}
    assert set(found) == {"sine", "simpletuner-sine-v1"}
    fits = [f for f, m in found.items() if lrs_agree(m.last_lr, get_family(f).lrs_at(m, m.position), truncated=True)]
    assert fits == ["sine"]
    hard = get_family("simpletuner-hard-restarts")
    m = the_match(Run(lambda o: make["simpletuner-hard-restarts"](o, 10, 1e-6), [1e-4], 5).before, hard.name)
    assert m.position == 5 and hard.lrs_at(m, 123) == [1e-4] and hard.state_at(m, 7)["last_step"] == 7
