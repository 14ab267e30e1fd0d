"""ReduceLROnPlateau: recognised, no position, no formula."""

from __future__ import annotations

import pytest
from torch.optim import lr_scheduler as L

from ckptfix.schedulers.families import NeedsConfig, get_family, recognise_all
from tests.schedulers.family_helpers import Run


def test_plateau_has_no_position_and_refuses_lrs():
    run = Run(lambda o: L.ReduceLROnPlateau(o, patience=1), [1e-3], 0)
    sched = run.sched
    for metric in (1.0, 2.0, 3.0, 4.0):
        sched.step(metric)
    from tests.schedulers.family_helpers import saved

    state = saved(sched.state_dict())
    (m,) = recognise_all(state)
    fam = get_family(m.family)
    assert m.family == "ReduceLROnPlateau" and not fam.has_position and m.position is None
    assert m.params["metric_steps"] == 4 and m.last_lr == (1e-4,)
    with pytest.raises(NeedsConfig, match="metric"):
        fam.lrs_at(m, 4)
    with pytest.raises(NeedsConfig):
        fam.advance(m, steps=1)
    assert fam.state_at(m, 4) == {} and fam.position_keys == ()
