"""The configured LambdaLR lambdas against the real factories: transformers' and diffusers' get_scheduler and
SimpleTuner 3.1.6's get_lr_scheduler build a real LambdaLR, stepped (and resumed with a last_epoch set from
outside), saved with torch.save, read by ckptfix; the configured Schedule reproduces _last_lr bit for bit.
kohya's get_scheduler_fix is replicated here with its lines cited (sd-scripts is not on the package index)
and run on the real transformers/diffusers functions it calls."""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from types import SimpleNamespace

import diffusers.optimization as dopt
import pytest
import transformers.optimization as topt
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ckptfix.model.run_config import read_trainer_state, read_training_args
from ckptfix.schedulers.families import Context, get_family
from ckptfix.schedulers.families.schedules import (
    Schedule,
    diffusers_schedule,
    hf_trainer_schedule,
    kohya_schedule,
    simpletuner_schedule,
    transformers_schedule,
)
from tests.helpers import FIXTURES
from tests.schedulers.family_helpers import Run, the_match

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LRS = st.lists(st.floats(1e-5, 1e-2), min_size=1, max_size=3)


def check(run: Run, schedule: Schedule, set_to: int | None = None, more: int = 0) -> None:
    """The Schedule is the lambda torch ran: at the stored position, and after a last_epoch override."""
    fam = get_family("LambdaLR")
    m = the_match(run.before, "LambdaLR")
    ctx = Context(lr_lambda=schedule.factor)
    assert fam.lrs_at(m, m.position, ctx) == list(run.before["_last_lr"])
    assert schedule.lrs(m.base_lrs, m.position) == list(run.before["_last_lr"])
    expected_saved = None if schedule.saved_lambda == "None" else {}
    assert m.params["lr_lambdas"] == [expected_saved] * len(m.base_lrs)
    if set_to is not None:
        assert fam.advance(m, set_last_epoch=set_to, steps=more, context=ctx) == list(run.after["_last_lr"])


@st.composite
def tf_config(draw):
    name = draw(st.sampled_from(["linear", "cosine", "cosine_with_restarts", "polynomial", "constant",
                                 "constant_with_warmup", "inverse_sqrt", "cosine_with_min_lr",
                                 "cosine_warmup_with_min_lr", "warmup_stable_decay"]))
    w = draw(st.integers(0, 12))
    t = draw(st.integers(w + 1, 60))
    kw: dict = {}
    if name in ("cosine", "cosine_with_restarts", "cosine_with_min_lr", "cosine_warmup_with_min_lr"):
        kw["num_cycles"] = draw(st.sampled_from([0.5, 1, 2, 3, 0.25]))
    if name == "polynomial":
        kw["lr_end"] = draw(st.sampled_from([1e-7, 1e-6, 0.0]))
        kw["power"] = draw(st.sampled_from([1.0, 2.0, 0.5]))
    if name == "inverse_sqrt" and draw(st.booleans()):
        kw["timescale"] = draw(st.integers(1, 50))
    if name in ("cosine_with_min_lr", "cosine_warmup_with_min_lr"):
        kw[draw(st.sampled_from(["min_lr", "min_lr_rate"]))] = draw(st.sampled_from([1e-6, 0.1]))
    if name == "cosine_warmup_with_min_lr" and draw(st.booleans()):
        kw["warmup_lr_rate"] = draw(st.floats(0.0, 0.5))
    if name == "warmup_stable_decay":
        kw["num_decay_steps"] = draw(st.integers(1, t))
        kw["warmup_type"] = draw(st.sampled_from(["linear", "cosine", "1-sqrt"]))
        kw["decay_type"] = draw(st.sampled_from(["linear", "cosine", "1-sqrt"]))
        kw["min_lr_ratio"] = draw(st.sampled_from([0, 0.1]))
        if draw(st.booleans()):
            kw["num_stable_steps"] = draw(st.integers(0, t))
    return name, w, t, kw


@SETTINGS
@given(cfg=tf_config(), lrs=LRS, steps=st.integers(0, 70), set_to=st.integers(0, 70), more=st.integers(0, 8))
def test_transformers_get_scheduler(cfg, lrs, steps, set_to, more):
    name, w, t, kw = cfg
    assume(name != "polynomial" or lrs[0] > kw["lr_end"])
    assume(name != "warmup_stable_decay" or w < t)

    def make(o):
        return topt.get_scheduler(name, o, num_warmup_steps=w, num_training_steps=t, scheduler_specific_kwargs=kw)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # wsd warns when both totals are given
        run = Run(make, lrs, steps, set_to, more)
    schedule = transformers_schedule(name, num_warmup_steps=w, num_training_steps=t, scheduler_specific_kwargs=kw,
                                     optimizer_lr=lrs[0])
    check(run, schedule, set_to, more)


@st.composite
def df_config(draw):
    name = draw(st.sampled_from(["linear", "cosine", "cosine_with_restarts", "polynomial", "constant",
                                 "constant_with_warmup", "piecewise_constant"]))
    w = draw(st.integers(0, 12))
    t = draw(st.integers(w + 1, 60))
    rules = None
    if name == "piecewise_constant":
        steps = sorted(draw(st.lists(st.integers(1, 60), min_size=1, max_size=4, unique=True)))
        rules = ",".join(f"{draw(st.sampled_from(['1', '0.5', '0.1']))}:{s}" for s in steps) + ",0.05"
    return name, w, t, rules, draw(st.integers(1, 4)), draw(st.sampled_from([1.0, 2.0, 0.5]))


@SETTINGS
@given(cfg=df_config(), lrs=LRS, steps=st.integers(0, 70), set_to=st.integers(0, 70), more=st.integers(0, 8))
def test_diffusers_get_scheduler(cfg, lrs, steps, set_to, more):
    name, w, t, rules, cycles, power = cfg

    def make(o):
        return dopt.get_scheduler(name, o, step_rules=rules, num_warmup_steps=w, num_training_steps=t,
                                  num_cycles=cycles, power=power)

    run = Run(make, lrs, steps, set_to, more)
    check(run, diffusers_schedule(name, step_rules=rules, num_warmup_steps=w, num_training_steps=t,
                                  num_cycles=cycles, power=power, optimizer_lr=lrs[0]), set_to, more)


HF_RUNS = sorted(p.parent for p in (FIXTURES / "run_configs").glob("hf-*/*/scheduler.pt")) + sorted(
    p.parent for p in (FIXTURES / "trainers").glob("hf-trainer-tf[45]/checkpoint-*/scheduler.pt"))


@pytest.mark.parametrize("folder", HF_RUNS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_hf_trainer_configuration_rebuilds_the_schedule_it_ran(folder):
    """End to end on real Trainer checkpoints (transformers 4.30.2 to 5.24.0): the configuration read from
    training_args.bin and trainer_state.json gives the schedule whose LR at the stored last_epoch is the stored
    _last_lr, bit for bit."""
    from ckptfix.formats.torchfile import open_torch_file

    args, state = read_training_args(folder / "training_args.bin"), read_trainer_state(folder / "trainer_state.json")
    schedule = hf_trainer_schedule(args.get("lr_scheduler"), num_training_steps=state.get("max_steps"),
                                   warmup_steps=args.get("warmup_steps"), warmup_ratio=args.get("warmup_ratio"),
                                   lr_scheduler_kwargs=args.get("lr_scheduler_kwargs"),
                                   learning_rate=args.get("learning_rate"))
    with open_torch_file(folder / "scheduler.pt") as tf:
        stored = tf.obj
    m = the_match(stored, "LambdaLR")
    assert m.position == state.get("global_step")
    got = get_family("LambdaLR").lrs_at(m, m.position, Context(lr_lambda=schedule.factor))
    assert got == list(stored["_last_lr"])
    earlier = get_family("LambdaLR").lrs_at(m, 1, Context(lr_lambda=schedule.factor))
    assert earlier != got or schedule.name == "constant"  # the position matters: the check can fail


def test_hf_warmup_rules_by_version():
    """5.x: a float warmup_steps below 1 is a ratio; 4.x: warmup_ratio when warmup_steps is 0."""
    five = hf_trainer_schedule("linear", num_training_steps=10, warmup_steps=0.25)
    four = hf_trainer_schedule("linear", num_training_steps=10, warmup_steps=0, warmup_ratio=0.25)
    assert five.params["num_warmup_steps"] == four.params["num_warmup_steps"] == 3
    assert hf_trainer_schedule("linear", num_training_steps=10, warmup_steps=2, warmup_ratio=0.5).params[
        "num_warmup_steps"] == 2


TF_FIXED = [
    ("linear", {}), ("cosine", {"num_cycles": 1.5}), ("cosine_with_restarts", {"num_cycles": 3}),
    ("polynomial", {"lr_end": 1e-6, "power": 2.0}), ("constant", {}), ("constant_with_warmup", {}),
    ("inverse_sqrt", {"timescale": 7}), ("cosine_with_min_lr", {"min_lr": 1e-5, "num_cycles": 2}),
    ("cosine_warmup_with_min_lr", {"min_lr_rate": 0.1, "warmup_lr_rate": 0.2}),
    ("warmup_stable_decay", {"num_decay_steps": 12, "decay_type": "cosine", "warmup_type": "1-sqrt", "min_lr_ratio": 0.1}),
]


@pytest.mark.parametrize(("name", "kw"), TF_FIXED, ids=[n for n, _ in TF_FIXED])
def test_transformers_every_step(name, kw):
    """Every position of a whole run (warmup, decay, several cycles, past the end), step by step."""
    import torch

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = topt.get_scheduler(name, opt, num_warmup_steps=4, num_training_steps=40, scheduler_specific_kwargs=kw)
        schedule = transformers_schedule(name, num_warmup_steps=4, num_training_steps=40, scheduler_specific_kwargs=kw,
                                         optimizer_lr=1e-3)
        for e in range(50):
            assert schedule.lrs([1e-3], e) == sched.get_last_lr(), e
            opt.step()
            sched.step()


@pytest.mark.parametrize("name", ["linear", "cosine", "cosine_with_restarts", "polynomial", "constant",
                                  "constant_with_warmup", "piecewise_constant"])
def test_diffusers_every_step(name):
    import torch

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    rules = "1:5,0.5:20,0.1:30,0.05"
    sched = dopt.get_scheduler(name, opt, step_rules=rules, num_warmup_steps=4, num_training_steps=40, num_cycles=3,
                               power=2.0)
    schedule = diffusers_schedule(name, step_rules=rules, num_warmup_steps=4, num_training_steps=40, num_cycles=3,
                                  power=2.0, optimizer_lr=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for e in range(50):
            assert schedule.lrs([1e-3], e) == sched.get_last_lr(), e
            opt.step()
            sched.step()


def test_libraries_differ_where_the_docs_say():
    """diffusers' cosine keeps num_cycles 0.5 whatever get_scheduler's num_cycles; its polynomial's lr_end is 1e-7;
    transformers' polynomial takes lr_end from scheduler_specific_kwargs; the lambdas are saved differently."""
    d = diffusers_schedule("cosine", num_warmup_steps=0, num_training_steps=10, num_cycles=3)
    assert d.params["num_cycles"] == 0.5 and d.saved_lambda == "None"
    assert diffusers_schedule("polynomial", num_warmup_steps=0, num_training_steps=10, optimizer_lr=1e-4).params["lr_end"] == 1e-7
    tf = transformers_schedule("polynomial", num_warmup_steps=0, num_training_steps=10,
                               scheduler_specific_kwargs={"lr_end": 1e-5}, optimizer_lr=1e-4)
    assert tf.params["lr_end"] == 1e-5 and tf.saved_lambda == "{}"
    assert transformers_schedule("constant").saved_lambda == "None"
    for name in ("reduce_lr_on_plateau", "greedy"):
        s = transformers_schedule(name)
        assert s.kind == "no-position"
        with pytest.raises(ValueError, match="not a LambdaLR lambda"):
            s.factor(3)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: transformers_schedule("nope"), "not a valid SchedulerType"),
    (lambda: transformers_schedule("linear", num_warmup_steps=1), "requires `num_training_steps`"),
    (lambda: transformers_schedule("cosine", num_warmup_steps=1, num_training_steps=9,
                                   scheduler_specific_kwargs={"power": 2}), "unexpected arguments power"),
    (lambda: transformers_schedule("cosine_with_min_lr", num_warmup_steps=1, num_training_steps=9),
     "One of min_lr or min_lr_rate"),
    (lambda: transformers_schedule("polynomial", num_warmup_steps=1, num_training_steps=9, optimizer_lr=1e-8),
     "must be smaller than initial lr"),
    (lambda: diffusers_schedule("inverse_sqrt"), "not a valid SchedulerType"),
    (lambda: diffusers_schedule("piecewise_constant"), "needs step_rules"),
])
def test_invalid_configurations_fail_as_the_libraries_do(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- SimpleTuner 3.1.6: its real factory ---------------------------------------------------------------------

needs_simpletuner = pytest.mark.skipif(
    importlib.util.find_spec("simpletuner") is None and not os.environ.get("CI"),
    reason="simpletuner 3.1.6 not installed (fixtures/simpletuner_runs/README.md)")


def simpletuner_factory():
    sys.path.insert(0, str(FIXTURES / "simpletuner_runs"))
    import st_sim

    return st_sim.simpletuner().get_lr_scheduler


@needs_simpletuner
@pytest.mark.parametrize("name", ["polynomial", "linear", "constant", "constant_with_warmup"])
@pytest.mark.parametrize("n", [1, 2])
def test_simpletuner_factory_lambdas(name, n):
    factory = simpletuner_factory()
    args = SimpleNamespace(lr_scheduler=name, lr_warmup_steps=3, max_train_steps=20, lr_end=1e-6, lr_power=0.8,
                           lr_num_cycles=1)
    log = SimpleNamespace(info=lambda *a, **k: None, warning=lambda *a, **k: None)
    acc = SimpleNamespace(num_processes=n)
    for steps in (0, 2, 5, 17, 30, 41):
        run = Run(lambda o: factory(args, o, acc, log, global_step=0), [1e-4, 5e-5], steps, set_last_epoch=7, more=3)
        schedule = simpletuner_schedule(name, lr_warmup_steps=3, max_train_steps=20, num_processes=n, lr_end=1e-6,
                                        lr_power=0.8, lr_num_cycles=1, learning_rate=1e-4)
        check(run, schedule, 7, 3)


@needs_simpletuner
@pytest.mark.parametrize(("name", "cls"), [("sine", "Sine"), ("cosine", "Cosine"),
                                          ("cosine_with_restarts", "CosineAnnealingHardRestarts")])
def test_simpletuner_own_classes_are_named_not_lambdas(name, cls):
    factory = simpletuner_factory()
    args = SimpleNamespace(lr_scheduler=name, lr_warmup_steps=5, max_train_steps=20, lr_end=1e-6, lr_power=0.8,
                           lr_num_cycles=1)
    log = SimpleNamespace(info=lambda *a, **k: None, warning=lambda *a, **k: None)
    run = Run(lambda o: factory(args, o, SimpleNamespace(num_processes=2), log, global_step=0), [1e-4], 3)
    s = simpletuner_schedule(name, lr_warmup_steps=5, max_train_steps=20, num_processes=2, lr_end=1e-6)
    assert type(run.sched).__name__ == cls == s.params["class"] and s.kind == "class"
    assert run.before["T_0"] == s.params["T_0"] == 10 and run.before["eta_min"] == s.params["eta_min"]


# --- kohya sd-scripts get_scheduler_fix, replicated -----------------------------------------------------------

def kohya_get_scheduler_fix(args, optimizer, num_processes):
    """kohya-ss/sd-scripts library/train_util.py L5265-5399 (48d368f), the branches a configured name takes; the
    calls are the real transformers/diffusers functions."""
    name = args.lr_scheduler
    num_training_steps = args.max_train_steps * num_processes  # L5274
    w = args.lr_warmup_steps
    num_warmup_steps = int(w * num_training_steps) if isinstance(w, float) else w  # L5275-5277
    d = args.lr_decay_steps
    num_decay_steps = int(d * num_training_steps) if isinstance(d, float) else d  # L5278-5280
    num_stable_steps = num_training_steps - num_warmup_steps - num_decay_steps  # L5281
    kw = dict(args.lr_scheduler_args)
    if name == "piecewise_constant":  # L5321-5324
        return dopt.TYPE_TO_SCHEDULER_FUNCTION[dopt.SchedulerType(name)](optimizer, **kw)
    func = topt.TYPE_TO_SCHEDULER_FUNCTION[topt.SchedulerType(name)]  # L5326-5327
    if name == "constant":  # L5329-5330
        return func(optimizer, **kw)
    if name == "constant_with_warmup":  # L5336-5337
        return func(optimizer, num_warmup_steps=num_warmup_steps, **kw)
    if name == "inverse_sqrt":  # L5339-5340
        return func(optimizer, num_warmup_steps=num_warmup_steps, timescale=args.lr_scheduler_timescale, **kw)
    if name == "cosine_with_restarts":  # L5346-5353
        return func(optimizer, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps,
                    num_cycles=args.lr_scheduler_num_cycles, **kw)
    if name == "polynomial":  # L5355-5358
        return func(optimizer, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps,
                    power=args.lr_scheduler_power, **kw)
    if name == "cosine_with_min_lr":  # L5360-5368
        return func(optimizer, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps,
                    num_cycles=args.lr_scheduler_num_cycles / 2, min_lr_rate=args.lr_scheduler_min_lr_ratio, **kw)
    if name in ("linear", "cosine"):  # L5371-5376
        return func(optimizer, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps, **kw)
    assert name == "warmup_stable_decay"  # L5382-5391
    ratio = args.lr_scheduler_min_lr_ratio
    return func(optimizer, num_warmup_steps=num_warmup_steps, num_stable_steps=num_stable_steps,
                num_decay_steps=num_decay_steps, num_cycles=args.lr_scheduler_num_cycles / 2,
                min_lr_ratio=ratio if ratio is not None else 0.0, **kw)


@st.composite
def kohya_args(draw):
    name = draw(st.sampled_from(["linear", "cosine", "cosine_with_restarts", "polynomial", "constant",
                                 "constant_with_warmup", "inverse_sqrt", "cosine_with_min_lr", "warmup_stable_decay",
                                 "piecewise_constant"]))
    total = draw(st.integers(10, 40))
    warmup = 0 if name == "constant" else draw(st.one_of(st.integers(0, 8), st.sampled_from([0.05, 0.1, 0.25])))
    decay = draw(st.one_of(st.integers(1, 8), st.sampled_from([0.2, 0.5]))) if name == "warmup_stable_decay" else 0
    args = SimpleNamespace(lr_scheduler=name, max_train_steps=total, lr_warmup_steps=warmup, lr_decay_steps=decay,
                           lr_scheduler_num_cycles=draw(st.integers(1, 3)), lr_scheduler_power=draw(st.sampled_from([1.0, 2.0])),
                           lr_scheduler_timescale=draw(st.one_of(st.none(), st.integers(1, 20))),
                           lr_scheduler_min_lr_ratio=draw(st.sampled_from([None, 0.1])) if name != "cosine_with_min_lr" else 0.1,
                           lr_scheduler_args={})
    if name == "piecewise_constant":
        args.lr_scheduler_args = {"step_rules": "1:5,0.5:15,0.1"}
    return args


@SETTINGS
@given(args=kohya_args(), n=st.integers(1, 3), steps=st.integers(0, 130), set_to=st.integers(0, 120),
       more=st.integers(0, 5))
def test_kohya_get_scheduler_fix(args, n, steps, set_to, more):
    run = Run(lambda o: kohya_get_scheduler_fix(args, o, n), [1e-4, 2e-4], steps, set_to, more)
    schedule = kohya_schedule(args.lr_scheduler, lr_warmup_steps=args.lr_warmup_steps,
                              lr_decay_steps=args.lr_decay_steps, max_train_steps=args.max_train_steps,
                              num_processes=n, lr_scheduler_num_cycles=args.lr_scheduler_num_cycles,
                              lr_scheduler_power=args.lr_scheduler_power,
                              lr_scheduler_timescale=args.lr_scheduler_timescale,
                              lr_scheduler_min_lr_ratio=args.lr_scheduler_min_lr_ratio,
                              lr_scheduler_args=args.lr_scheduler_args, learning_rate=1e-4)
    check(run, schedule, set_to, more)


def test_kohya_specifics():
    """An integer warmup is not multiplied by N while the total is; a float is a ratio of the multiplied total;
    cosine_with_min_lr halves num_cycles; adafactor takes its LR from the optimizer."""
    s = kohya_schedule("linear", lr_warmup_steps=10, max_train_steps=100, num_processes=4)
    assert (s.params["num_warmup_steps"], s.params["num_training_steps"]) == (10, 400)
    assert kohya_schedule("linear", lr_warmup_steps=0.1, max_train_steps=100, num_processes=4).params["num_warmup_steps"] == 40
    c = kohya_schedule("cosine_with_min_lr", max_train_steps=100, num_processes=1, lr_scheduler_num_cycles=1,
                       lr_scheduler_min_lr_ratio=0.1)
    assert c.params["num_cycles"] == 0.5 and c.params["min_lr_rate"] == 0.1
    a = kohya_schedule("adafactor:1e-3", max_train_steps=100, num_processes=1)
    assert a.kind == "optimizer" and a.params == {"initial_lr": 1e-3}
    with pytest.raises(ValueError, match="does not require `num_warmup_steps`"):
        kohya_schedule("constant", lr_warmup_steps=5, max_train_steps=100, num_processes=1)
    with pytest.raises(ValueError, match="multiple values"):
        kohya_schedule("cosine_with_restarts", max_train_steps=100, num_processes=1, lr_scheduler_args={"num_cycles": 2})
    with pytest.raises(ValueError, match="TypeError"):
        kohya_schedule("cosine_warmup_with_min_lr", max_train_steps=100, num_processes=1)


# --- the trainers' factories, one entry point each (TrainerRules.factory) -----------------------------------

@pytest.mark.parametrize("name", ["linear", "cosine", "cosine_with_restarts", "polynomial", "constant_with_warmup"])
@pytest.mark.parametrize("n", [1, 2])
def test_diffusers_scripts_scale_warmup_and_total_by_n(name: str, n: int) -> None:
    """The scripts' call (t2i L766-783, db L1156-1163): get_scheduler with warmup and total × N, num_cycles and
    power passed; the real one's LambdaLR stepped 2 × 8 times gives the factory's LRs."""
    from ckptfix.schedulers.families.schedules import ScheduleInputs, build_schedule

    inputs = ScheduleInputs(name, warmup=3, total=12, num_cycles=2.0, power=2.0, learning_rate=1e-3)
    schedule = build_schedule("diffusers_scripts_schedule", inputs, n)
    run = Run(lambda o: dopt.get_scheduler(name, o, num_warmup_steps=3 * n, num_training_steps=12 * n,
                                           num_cycles=2, power=2.0), [1e-3], 8 * n)
    check(run, schedule)


@pytest.mark.parametrize("name, kwargs", [
    ("cosine_with_restarts", {"num_cycles": 2.0}), ("polynomial", {"power": 2.0, "lr_end": 1e-5}),
    ("cosine_with_min_lr", {"min_lr_rate": 0.1}), ("warmup_stable_decay", {"decay_steps": 4}),
])
def test_the_hf_trainer_takes_the_options_as_its_scheduler_kwargs(name: str, kwargs: dict) -> None:
    """The HF Trainer has no --lr-num-cycles of its own: the options reach its lr_scheduler_kwargs under the
    schedule's own names (num_cycles, power, lr_end, min_lr_rate, num_decay_steps)."""
    from ckptfix.schedulers.families.schedules import ScheduleInputs, build_schedule

    schedule = build_schedule("hf_trainer_schedule", ScheduleInputs(name, warmup=3, total=12, learning_rate=1e-3,
                                                                    **kwargs), 4)
    theirs = {"decay_steps": "num_decay_steps"}
    run = Run(lambda o: topt.get_scheduler(name, o, num_warmup_steps=3, num_training_steps=12,
                                           scheduler_specific_kwargs={theirs.get(k, k): v for k, v in kwargs.items()}),
              [1e-3], 8)
    check(run, schedule)


def test_each_factory_routes_as_its_trainer() -> None:
    from ckptfix.schedulers.families.schedules import FACTORIES, ScheduleInputs, build_schedule

    assert set(FACTORIES) == {"hf_trainer_schedule", "diffusers_scripts_schedule", "simpletuner_schedule",
                              "kohya_schedule"}
    c = ScheduleInputs("cosine", warmup=4, total=20, learning_rate=1e-3)
    assert build_schedule("kohya_schedule", c, 2).params == kohya_schedule(
        "cosine", lr_warmup_steps=4, max_train_steps=20, num_processes=2).params  # warmup not × N
    assert build_schedule("simpletuner_schedule", ScheduleInputs("polynomial", warmup=10, total=40, lr_end=1e-6,
                                                                 learning_rate=1e-4), 2).params == simpletuner_schedule(
        "polynomial", lr_warmup_steps=10, max_train_steps=40, num_processes=2, lr_end=1e-6, learning_rate=1e-4).params
    assert build_schedule("simpletuner_schedule", ScheduleInputs("constant"), 1).name == "constant"  # no W, no T
    for factory, inputs in (("diffusers_scripts_schedule", ScheduleInputs("linear", warmup=3)),
                            ("hf_trainer_schedule", ScheduleInputs("linear", warmup=3)),
                            ("kohya_schedule", ScheduleInputs("linear", warmup=3)),
                            ("hf_trainer_schedule", ScheduleInputs("cosine", warmup=3, total=9, kwargs={"nope": 1}))):
        with pytest.raises(ValueError):
            build_schedule(factory, inputs, 1)
