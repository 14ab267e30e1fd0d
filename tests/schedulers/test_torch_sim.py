"""The torch replicas step for step: every LR of a 60-step run equals torch's bit for bit, fresh and through a
SequentialLR milestone (``_update_lr(0)``)."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch.optim import lr_scheduler as L

from ckptfix.schedulers.families.torch_sim import (
    Groups,
    SimChained,
    SimConstant,
    SimCosine,
    SimCyclic,
    SimExponential,
    SimLambda,
    SimLinear,
    SimMultiplicative,
    SimMultiStep,
    SimOneCycle,
    SimPolynomial,
    SimSequential,
    SimStep,
    SimWarmRestarts,
)

LRS = [1e-3, 3e-4]
CASES = {
    "LambdaLR": (lambda o: L.LambdaLR(o, lambda e: 0.97 ** e), lambda g: SimLambda(g, lambda e: 0.97 ** e)),
    "MultiplicativeLR": (lambda o: L.MultiplicativeLR(o, lambda e: 0.95), lambda g: SimMultiplicative(g, lambda e: 0.95)),
    "StepLR": (lambda o: L.StepLR(o, 4, 0.7), lambda g: SimStep(g, 4, 0.7)),
    "MultiStepLR": (lambda o: L.MultiStepLR(o, [3, 9, 9, 20], 0.6), lambda g: SimMultiStep(g, {3: 1, 9: 2, 20: 1}, 0.6)),
    "ConstantLR": (lambda o: L.ConstantLR(o, 0.3, 7), lambda g: SimConstant(g, 0.3, 7)),
    "LinearLR": (lambda o: L.LinearLR(o, 0.2, 0.9, 11), lambda g: SimLinear(g, 0.2, 0.9, 11)),
    "ExponentialLR": (lambda o: L.ExponentialLR(o, 0.93), lambda g: SimExponential(g, 0.93)),
    "PolynomialLR": (lambda o: L.PolynomialLR(o, 17, 1.7), lambda g: SimPolynomial(g, 17, 1.7)),
    "CosineAnnealingLR": (lambda o: L.CosineAnnealingLR(o, 9, 1e-6), lambda g: SimCosine(g, 9, 1e-6)),
    "CosineAnnealingWarmRestarts": (lambda o: L.CosineAnnealingWarmRestarts(o, 3, 2, 1e-6),
                                    lambda g: SimWarmRestarts(g, 3, 2, 1e-6)),
    "CyclicLR": (lambda o: L.CyclicLR(o, 1e-4, 1e-3, 4, 6, "exp_range", 0.97, cycle_momentum=False),
                 lambda g: SimCyclic(g, [1e-4, 1e-4], [1e-3, 1e-3], 10.0, 0.4, "exp_range", 0.97, "iterations")),
}


def torch_lrs(make, steps: int) -> list[list[float]]:
    opt = torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in LRS], lr=LRS[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = make(opt)
        out = [s.get_last_lr()]
        for _ in range(steps):
            opt.step()
            s.step()
            out.append(s.get_last_lr())
    return out


def sim_lrs(make, steps: int) -> list[list[float]]:
    s = make(Groups(LRS))
    out = [list(s.last_lr)]
    for _ in range(steps):
        s.step()
        out.append(list(s.last_lr))
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_step_equals_torch(name):
    make_torch, make_sim = CASES[name]
    assert sim_lrs(make_sim, 60) == torch_lrs(make_torch, 60)


def test_one_cycle_every_step_equals_torch():
    def make_torch(o):
        return L.OneCycleLR(o, 1e-2, 40, pct_start=0.25, three_phase=True, cycle_momentum=False)

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = make_torch(opt)
    g = opt.param_groups[0]
    phases = s._schedule_phases
    groups = Groups([g["initial_lr"]], [{"initial_lr": g["initial_lr"], "max_lr": g["max_lr"], "min_lr": g["min_lr"]}])
    sim = SimOneCycle(groups, 40, phases, "cos")
    assert sim_lrs(lambda _g: sim, 0) == [s.get_last_lr()]
    for _ in range(40):
        opt.step()
        s.step()
        sim.step()
        assert sim.last_lr == s.get_last_lr()


def test_sequential_and_chained_every_step_equal_torch():
    def seq_torch(o):
        return L.SequentialLR(o, [L.LinearLR(o, 0.1, 1.0, 5), L.CosineAnnealingLR(o, 20, 1e-6), L.ExponentialLR(o, 0.9)],
                              [5, 25])

    def seq_sim(g):
        return SimSequential(g, [SimLinear(g, 0.1, 1.0, 5), SimCosine(g, 20, 1e-6), SimExponential(g, 0.9)], [5, 25])

    assert sim_lrs(seq_sim, 40) == torch_lrs(seq_torch, 40)

    def chain_torch(o):
        return L.ChainedScheduler([L.ConstantLR(o, 0.5, 4), L.ExponentialLR(o, 0.9)])

    def chain_sim(g):
        return SimChained(g, [SimConstant(g, 0.5, 4), SimExponential(g, 0.9)])

    assert sim_lrs(chain_sim, 40) == torch_lrs(chain_torch, 40)


def test_resuming_with_last_epoch_needs_initial_lr():
    with pytest.raises(KeyError, match="initial_lr"):
        SimStep(Groups([0.1]), 2, 0.5, last_epoch=3)
