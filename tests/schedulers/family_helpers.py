"""Run a real torch scheduler, save its state with torch.save, read it back with ckptfix's decoder, and check a
family against it: what the scheduler families' tests share."""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from hypothesis import strategies as st

from ckptfix.formats.torchfile import open_torch_file
from ckptfix.schedulers.families import Context, get_family, lrs_agree, recognise_all

#: per-group learning rates a trainer would use
LRS = st.lists(st.floats(1e-6, 1e-1), min_size=1, max_size=3)


def optimizer(lrs: list[float], kind: str = "adamw") -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in lrs]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, lrs)]
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=lrs[0], momentum=0.9)
    return torch.optim.AdamW(groups, lr=lrs[0])


def saved(obj: Any) -> Any:
    """``obj`` through torch.save and ckptfix's restricted decoder (never torch.load)."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "scheduler.bin"
        torch.save(obj, path)
        with open_torch_file(path) as tf:
            return tf.obj


class Run:
    """A real scheduler stepped ``steps`` times, its state saved (``before``); then, if ``set_last_epoch`` is
    given, ``last_epoch`` set from outside (as a trainer's resume does) and ``more`` further steps (``after``)."""

    def __init__(self, make: Callable[[torch.optim.Optimizer], Any], lrs: list[float], steps: int,
                 set_last_epoch: int | None = None, more: int = 0, kind: str = "adamw") -> None:
        self.opt = optimizer(lrs, kind)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.sched = make(self.opt)
            for _ in range(steps):
                self.opt.step()
                self.sched.step()
            self.before = saved(self.sched.state_dict())
            self.opt_before = saved(self.opt.state_dict())
            self.after = None
            if set_last_epoch is not None:
                self.sched.last_epoch = set_last_epoch
                for _ in range(more):
                    self.opt.step()
                    self.sched.step()
                self.after = saved(self.sched.state_dict())
        self.lrs_now = [g["lr"] for g in self.opt.param_groups]

    def context(self, lr_lambda: Callable[[int], float] | None = None) -> Context:
        return Context(lr_lambda=lr_lambda, optimizer_groups=self.opt_before["param_groups"])


def the_match(state: dict, family: str):
    found = {m.family: m for m in recognise_all(state)}
    assert family in found, f"{family} not recognised in {sorted(state)}: {list(found)}"
    return found[family]


def check_run(run: Run, family: str, set_last_epoch: int | None = None, more: int = 0,
              lr_lambda: Callable[[int], float] | None = None) -> None:
    """The family reproduces torch: ``lrs_at`` the stored position equals the stored ``_last_lr`` bit for bit,
    ``state_at`` the stored position keys, and ``advance`` after a ``last_epoch`` override the LRs torch then holds."""
    fam = get_family(family)
    m = the_match(run.before, family)
    ctx = run.context(lr_lambda)
    stored = list(run.before["_last_lr"])
    if m.position is not None:
        assert fam.lrs_at(m, m.position, ctx) == stored
        assert lrs_agree(stored, fam.lrs_at(m, m.position, ctx))
        fields = fam.state_at(m, m.position, ctx)
        for k, v in fields.items():
            if k == "_schedulers":
                for child_fields, child_state in zip(v, run.before["_schedulers"]):
                    assert {ck: child_state[ck] for ck in child_fields} == child_fields
            else:
                assert run.before[k] == v, k
    if set_last_epoch is not None:
        assert run.after is not None
        got = fam.advance(m, set_last_epoch=set_last_epoch, steps=more, context=ctx)
        assert got == list(run.after["_last_lr"]) == run.lrs_now
