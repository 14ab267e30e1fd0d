"""Tests for the torch reference scheduler ckptfix.schedulers.Sine."""

from __future__ import annotations

import io
import math
import subprocess
import sys
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ckptfix.schedulers import Sine, lr_matches, sine_lr, sine_position, truncate_lr

FAST = settings(max_examples=40, deadline=None, database=None)

# What the fixed Sine writes under torch 2.13 (SimpleTuner's pre-fix layout plus torch's extras).
EXPECTED_KEYS = {
    "T_0", "T_i", "T_mult", "T_cur", "eta_min", "steps_per_epoch", "last_epoch", "base_lrs",
    "_last_lr", "_step_count", "verbose", "_get_lr_called_within_step", "_is_initial",
}


def make(base_lrs=(1e-4,), T_0=100, T_mult=1, eta_min=1e-6, **kw) -> tuple[torch.optim.Optimizer, Sine]:
    params = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in base_lrs]
    opt = torch.optim.SGD(params, lr=base_lrs[0])
    return opt, Sine(opt, T_0=T_0, T_mult=T_mult, eta_min=eta_min, **kw)


def run(sched: Sine, n: int) -> list[list[float]]:
    out = []
    for _ in range(n):
        sched.step()
        out.append(list(sched.get_last_lr()))
    return out


def roundtrip(state: dict) -> dict:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def test_import_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "import ckptfix.schedulers as s\n"
        "from ckptfix.schedulers import *\n"
        "from ckptfix.schedulers import detect_profile, sine_position, PROFILES\n"
        "assert 'torch' not in sys.modules, 'torch imported eagerly'\n"
        "assert s.sine_position(250, 100, 1) == (50, 100)\n"
        "cls = s.Sine\n"
        "assert 'torch' in sys.modules and cls.__name__ == 'Sine'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_unknown_attribute_raises() -> None:
    import ckptfix.schedulers as s

    with pytest.raises(AttributeError):
        s.NoSuchThing  # noqa: B018


def test_domain_doc_example() -> None:
    opt, sched = make()
    assert sched.get_last_lr() == [1e-4] and sched.last_epoch == 0 and sched.T_cur == 0
    lrs = run(sched, 250)
    assert lr_matches(lrs[24][0], 5.05e-5)  # e = 25
    assert lr_matches(lrs[49][0], 1e-6)  # e = 50
    assert lrs[99][0] == 1e-4  # e = 100: restart
    assert (sched.last_epoch, sched.T_cur, sched.T_i) == (250, 50, 100)
    assert lr_matches(sched.get_last_lr()[0], 1e-6)
    assert opt.param_groups[0]["lr"] == sched.get_last_lr()[0]


def test_state_dict_layout_and_types() -> None:
    opt, sched = make(base_lrs=(1e-4, 5e-5), T_0=10, T_mult=2)
    run(sched, 37)
    state = sched.state_dict()
    assert set(state) == EXPECTED_KEYS
    assert "total_steps" not in state and "optimizer" not in state
    assert (state["last_epoch"], state["T_cur"], state["T_i"]) == (37, 7, 40)
    assert state["_step_count"] == 38 and state["steps_per_epoch"] == -1
    assert state["_is_initial"] is False and state["_get_lr_called_within_step"] is False
    for key in ("T_0", "T_i", "T_mult", "T_cur", "last_epoch", "_step_count"):
        assert type(state[key]) is int, key
    assert all(type(x) is float for x in state["_last_lr"] + state["base_lrs"])
    # LRs are stored truncated, in _last_lr and in the optimizer, like the trainer does.
    for group, base, last in zip(opt.param_groups, state["base_lrs"], state["_last_lr"]):
        assert last == group["lr"] == truncate_lr(sine_lr(base, 1e-6, 7, 40))
        assert group["initial_lr"] == base
    assert roundtrip(state) == state  # loads with weights_only=True


@FAST
@given(
    T_0=st.integers(1, 30),
    T_mult=st.integers(1, 3),
    e=st.integers(0, 400),
    base=st.floats(1e-6, 1e-2),
    frac=st.floats(0, 0.5),
)
def test_stepping_equals_closed_form(T_0: int, T_mult: int, e: int, base: float, frac: float) -> None:
    eta = base * frac
    opt, sched = make(base_lrs=(base, base / 3), T_0=T_0, T_mult=T_mult, eta_min=eta)
    run(sched, e)
    t_cur, t_i = sine_position(e, T_0, T_mult)
    assert (sched.last_epoch, sched.T_cur, sched.T_i) == (e, t_cur, t_i)
    expected = [truncate_lr(sine_lr(b, eta, t_cur, t_i)) for b in (base, base / 3)]
    assert sched.get_last_lr() == expected == [g["lr"] for g in opt.param_groups]
    # independent transcription of the fixed formula and the trainer's truncation
    raw = [eta + (b - eta) * (0.5 + 0.5 * math.cos(2 * math.pi * t_cur / t_i)) for b in (base, base / 3)]
    assert expected == [math.floor(x * 1e9) / 1e9 for x in raw]


@FAST
@given(
    T_0=st.integers(1, 25),
    T_mult=st.integers(1, 3),
    k=st.integers(0, 250),
    extra=st.integers(1, 150),
)
def test_resume_equals_uninterrupted(T_0: int, T_mult: int, k: int, extra: int) -> None:
    _, straight = make(T_0=T_0, T_mult=T_mult)
    reference = run(straight, k + extra)

    _, first = make(T_0=T_0, T_mult=T_mult)
    run(first, k)
    state = roundtrip(first.state_dict())
    _, resumed = make(T_0=T_0, T_mult=T_mult)  # fresh instance, then load, as accelerate does
    resumed.load_state_dict(state)
    assert run(resumed, extra) == reference[k:]
    assert resumed.state_dict() == straight.state_dict()


def test_resume_across_t_mult_2_restarts() -> None:
    _, straight = make(T_0=5, T_mult=2)
    reference = run(straight, 200)
    for k in (4, 5, 14, 15, 34, 35, 75, 155):  # around restarts at 5, 15, 35, 75, 155
        _, first = make(T_0=5, T_mult=2)
        run(first, k)
        _, resumed = make(T_0=5, T_mult=2)
        resumed.load_state_dict(roundtrip(first.state_dict()))
        assert run(resumed, 200 - k) == reference[k:], k


def test_resume_after_trainer_overwrites_last_epoch() -> None:
    # SimpleTuner sets last_epoch on resume; T_cur/T_i must follow it, not the stale stored values.
    _, first = make(T_0=10, T_mult=2)
    run(first, 3)
    state = first.state_dict()
    state["last_epoch"] = 99
    _, resumed = make(T_0=10, T_mult=2)
    resumed.load_state_dict(state)
    resumed.step()
    assert (resumed.T_cur, resumed.T_i) == sine_position(100, 10, 2)


def test_load_ignores_total_steps() -> None:
    _, sched = make()
    state = sched.state_dict() | {"total_steps": 0}
    _, fresh = make()
    fresh.load_state_dict(state)
    assert not hasattr(fresh, "total_steps")
    assert "total_steps" not in fresh.state_dict()


@pytest.mark.parametrize("T_mult", [1, 2, 3])
def test_matches_torch_cosine_annealing_warm_restarts_position(T_mult: int) -> None:
    p = [torch.nn.Parameter(torch.zeros(1))]
    opt_t = torch.optim.SGD(p, lr=1e-3)
    torch_sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt_t, T_0=7, T_mult=T_mult)
    _, ours = make(base_lrs=(1e-3,), T_0=7, T_mult=T_mult, eta_min=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for e in range(1, 7 * (1 + T_mult + T_mult**2 + T_mult**3) + 3):  # four restarts
            opt_t.step()
            torch_sched.step()
            ours.step()
            assert (ours.T_cur, ours.T_i) == (torch_sched.T_cur, torch_sched.T_i), e
            assert ours.last_epoch == torch_sched.last_epoch == e


def test_step_with_epoch_jumps_to_closed_form() -> None:
    _, a = make(T_0=6, T_mult=2)
    run(a, 123)
    _, b = make(T_0=6, T_mult=2)
    b.step(123)
    assert b.get_last_lr() == a.get_last_lr() and (b.T_cur, b.T_i) == (a.T_cur, a.T_i)


def test_constructor_compatible_with_simpletuner_call() -> None:
    params = [torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.AdamW(params, lr=2e-4)
    sched = Sine(optimizer=opt, T_0=int(10 * 2), T_mult=int(1), eta_min=float(1e-6), last_step=-1, verbose=False)
    assert sched.get_last_lr() == [2e-4] and sched.verbose is False
    positional = Sine(torch.optim.AdamW(params, lr=2e-4), 20, 1, 1e-6, -1, True)
    assert positional.T_0 == 20 and positional.eta_min == 1e-6 and positional.verbose is True


@pytest.mark.parametrize(
    "kwargs",
    [{"T_0": 0}, {"T_0": -3}, {"T_0": 2.5}, {"T_0": True}, {"T_0": 10, "T_mult": 0}, {"T_0": 10, "T_mult": 1.5}],
)
def test_constructor_validation(kwargs: dict) -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    with pytest.raises(ValueError):
        Sine(opt, **kwargs)


def test_resume_constructor_with_last_step() -> None:
    # Like any torch scheduler: resuming via last_step needs initial_lr in the param groups.
    opt, sched = make(T_0=10)
    run(sched, 20)
    resumed = Sine(opt, T_0=10, eta_min=1e-6, last_step=20)
    assert resumed.last_epoch == 21 and (resumed.T_cur, resumed.T_i) == (1, 10)
    assert math.isclose(resumed.get_last_lr()[0], truncate_lr(sine_lr(1e-4, 1e-6, 1, 10)))


@pytest.mark.parametrize("groups", [1, 2, 3])
def test_static_state_template_is_what_the_class_writes(groups: int) -> None:
    """repair creates scheduler.bin from SINE_STATE_TEMPLATE without torch: same keys, same order, and the
    values of the keys ckptfix does not own, with their types, as the real class under this torch."""
    from ckptfix.repair.actions.interface import same
    from ckptfix.repair.plan import OWNED_KEYS
    from ckptfix.schedulers.reference import sine_state_template

    params = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 1.0} for _ in range(groups)]
    real = Sine(torch.optim.SGD(params, lr=1.0), T_0=1).state_dict()
    template = sine_state_template(groups)
    assert list(template) == list(real)
    for key, value in real.items():
        if key not in OWNED_KEYS:
            assert same(template[key], value), key


def test_without_torch_sine_names_the_extra() -> None:
    code = ("import sys; sys.modules['torch'] = None\n"
            "import ckptfix.schedulers as s\n"
            "try:\n    s.Sine\nexcept ModuleNotFoundError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install 'ckptfix[torch]'" in out
