"""LambdaLR and MultiplicativeLR: recognised as both (same keys), computable only with the lambda from the run's
configuration; then reproduced exactly."""

from __future__ import annotations

import functools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.optim import lr_scheduler as L

from ckptfix.schedulers.families import NeedsConfig, get_family, recognise_all
from ckptfix.schedulers.families.lambda_lr import lambda_kinds
from tests.schedulers.family_helpers import LRS, Run, check_run, the_match

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def warmup_decay(step: int, *, warmup: int, total: int) -> float:
    if step < warmup:
        return float(step) / float(max(1, warmup))
    return max(0.0, float(total - step) / float(max(1, total - warmup)))


@SETTINGS
@given(lrs=LRS, warmup=st.integers(0, 10), total=st.integers(11, 60), steps=st.integers(0, 70),
       set_to=st.integers(0, 70), more=st.integers(0, 10), partial=st.booleans())
def test_lambda_lr_with_the_configured_lambda_is_exact(lrs, warmup, total, steps, set_to, more, partial):
    lam = functools.partial(warmup_decay, warmup=warmup, total=total)
    fn = lam if partial else (lambda s: warmup_decay(s, warmup=warmup, total=total))
    run = Run(lambda o: L.LambdaLR(o, fn), lrs, steps, set_to, more)
    check_run(run, "LambdaLR", set_to, more, lr_lambda=lam)
    assert run.before["lr_lambdas"] == ([{}] * len(lrs) if partial else [None] * len(lrs))


@SETTINGS
@given(lrs=LRS, gamma=st.floats(0.8, 1.0), steps=st.integers(0, 40), set_to=st.integers(0, 40), more=st.integers(0, 10))
def test_multiplicative_lr_with_its_lambda_is_exact(lrs, gamma, steps, set_to, more):
    run = Run(lambda o: L.MultiplicativeLR(o, lambda e: gamma), lrs, steps, set_to, more)
    check_run(run, "MultiplicativeLR", set_to, more, lr_lambda=lambda e: gamma)


def test_both_classes_fit_and_the_lambda_is_never_guessed():
    run = Run(lambda o: L.LambdaLR(o, lambda e: 0.5), [1e-3, 2e-3], 4)
    found = recognise_all(run.before)
    assert [m.family for m in found] == ["LambdaLR", "MultiplicativeLR"]
    assert found[0].also == ("MultiplicativeLR",) and found[1].also == ("LambdaLR",)
    for m in found:
        with pytest.raises(NeedsConfig) as err:
            get_family(m.family).lrs_at(m, 4)
        assert "lambda" in err.value.why
    assert get_family("LambdaLR").state_at(found[0], 4) == {"last_epoch": 4, "_step_count": 5}


def test_lambda_kinds_evidence():
    assert "functions (not saved)" in lambda_kinds([None])
    assert "functools.partial" in lambda_kinds([{}, {}])
    assert "attributes ['k']" in lambda_kinds([{"k": 1}])
    assert lambda_kinds("x") == "lr_lambdas is not a list"
    m = the_match(Run(lambda o: L.LambdaLR(o, lambda e: 1.0), [1e-3], 1).before, "LambdaLR")
    assert "1 lr_lambdas: functions (not saved)" in m.evidence[0]


@pytest.mark.parametrize("saved_lambda, make", [
    ("None", lambda o: __import__("diffusers.optimization", fromlist=["x"]).get_scheduler(
        "linear", o, num_warmup_steps=3, num_training_steps=12)),
    ("{}", lambda o: __import__("transformers").get_scheduler("linear", o, num_warmup_steps=3, num_training_steps=12)),
])
def test_a_created_state_is_what_torch_saves_and_loads(saved_lambda, make) -> None:
    """``lambda_state`` at position 8 is the state_dict() of the library's own LambdaLR stepped 8 times (key order
    too), and the library's fresh scheduler loads it and goes on as the uninterrupted one."""
    import torch

    from ckptfix.schedulers.families.lambda_lr import lambda_state
    from ckptfix.schedulers.families.schedules import diffusers_schedule

    def run(steps):
        p = torch.nn.Parameter(torch.zeros(1))
        o = torch.optim.AdamW([p], lr=1e-3)
        s = make(o)
        for _ in range(steps):
            o.step()
            s.step()
        return o, s

    o, s = run(8)
    lrs = diffusers_schedule("linear", num_warmup_steps=3, num_training_steps=12).lrs([1e-3], 8)
    state = lambda_state([1e-3], 8, lrs, saved_lambda)
    assert list(state.items()) == list(s.state_dict().items())
    o2, s2 = run(0)
    s2.load_state_dict(state)
    o2.param_groups[0]["lr"] = state["_last_lr"][0]
    o.step(), s.step(), o2.step(), s2.step()
    assert s2.get_last_lr() == s.get_last_lr()
    with pytest.raises(ValueError):
        lambda_state([1e-3], 8, lrs, "")
