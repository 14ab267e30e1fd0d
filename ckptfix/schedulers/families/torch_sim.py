"""torch's LR schedulers replayed on plain floats: the same expressions, in the same order, so the LRs are
bit-identical to torch's (``torch/optim/lr_scheduler.py``, torch 2.13.0; line numbers below are that file's).

A ``Groups`` object stands for the optimizer's param groups (``lr``, ``initial_lr`` and, for OneCycleLR,
``max_lr``/``min_lr``), shared by every scheduler built on it, as the optimizer is shared by the members of
a ``SequentialLR`` or ``ChainedScheduler``. Each ``Sim*`` class mirrors one torch class: its constructor
(including the initial step), ``step()``, and ``_update_lr(epoch)`` (what ``SequentialLR`` calls at a
milestone). ``load`` puts a saved state's position and LRs back, as ``load_state_dict`` plus the optimizer's
own ``load_state_dict`` do, so a resumed run can be replayed.

Only the no-argument ``step()`` is mirrored (``step(epoch)`` is deprecated in torch, and no trainer ckptfix
models calls it); ``_update_lr(0)``, which ``SequentialLR`` uses, is.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..formulas import cosine_lr

__all__ = [
    "Groups",
    "SimChained",
    "SimConstant",
    "SimCosine",
    "SimCyclic",
    "SimExponential",
    "SimLambda",
    "SimLinear",
    "SimMultiStep",
    "SimMultiplicative",
    "SimOneCycle",
    "SimPolynomial",
    "SimScheduler",
    "SimSequential",
    "SimStep",
    "SimWarmRestarts",
]


class Groups:
    """The optimizer's param groups, as far as a scheduler reads or writes them."""

    def __init__(self, lrs: Sequence[float], extra: Sequence[Mapping[str, Any]] | None = None) -> None:
        self.groups: list[dict[str, Any]] = [{"lr": float(lr)} for lr in lrs]
        for g, more in zip(self.groups, extra or ()):
            for k, v in more.items():
                g.setdefault(k, v)

    def values(self, key: str) -> list[Any]:
        return [g[key] for g in self.groups]

    def set(self, key: str, values: Sequence[Any]) -> None:
        for g, v in zip(self.groups, values, strict=True):
            g[key] = v


class SimScheduler:
    """``LRScheduler`` (L95-313: ``_initial_step`` L176, ``step`` L238, ``_update_lr`` L284): position, base LRs, the initial step, ``step`` and ``_update_lr``."""

    closed_form = False

    def __init__(self, groups: Groups, last_epoch: int = -1) -> None:
        self.groups = groups
        if last_epoch == -1:
            for g in groups.groups:
                g.setdefault("initial_lr", g["lr"])
        elif any("initial_lr" not in g for g in groups.groups):
            raise KeyError("param 'initial_lr' is not specified when resuming a scheduler with last_epoch >= 0")
        self.base_lrs: list[float] = groups.values("initial_lr")
        self.last_epoch = last_epoch
        self.is_initial = False
        self.step_count = 0
        self.last_lr: list[float] = []
        self.initial_step()

    def initial_step(self) -> None:
        self.step_count = 0
        self.is_initial = True
        try:
            self.step()
        finally:
            self.is_initial = False

    def step(self) -> None:
        self.step_count += 1
        self.update_lr(None)

    def update_lr(self, epoch: int | None) -> None:
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            values = self.get_closed_form_lr() if self.closed_form else self.get_lr()
        self.groups.set("lr", values)
        self.last_lr = self.groups.values("lr")

    def lr(self) -> list[float]:
        return self.groups.values("lr")

    def get_lr(self) -> list[float]:
        raise NotImplementedError

    def get_closed_form_lr(self) -> list[float]:
        raise NotImplementedError

    def load(self, state: Mapping[str, Any]) -> None:
        """Put a saved position back (``load_state_dict``: ``__dict__.update``)."""
        if "last_epoch" in state:
            self.last_epoch = state["last_epoch"]
        if state.get("step_count") is not None:
            self.step_count = state["step_count"]
        if state.get("base_lrs") is not None:
            self.base_lrs = list(state["base_lrs"])
        if state.get("last_lr") is not None:
            self.last_lr = list(state["last_lr"])

    def undo(self) -> None:
        """``SequentialLR.recursive_undo`` on a plain scheduler."""
        self.last_epoch -= 1


class SimLambda(SimScheduler):
    """``LambdaLR`` (L343-466, ``get_lr`` L441): ``base_lr * lr_lambda(last_epoch)``; no closed form."""

    def __init__(self, groups: Groups, lr_lambda: Callable[[int], float], last_epoch: int = -1) -> None:
        self.lr_lambda = lr_lambda
        super().__init__(groups, last_epoch)

    def get_lr(self) -> list[float]:
        return [base_lr * self.lr_lambda(self.last_epoch) for base_lr in self.base_lrs]


class SimMultiplicative(SimScheduler):
    """``MultiplicativeLR`` (L469-589, ``get_lr`` L558): ``lr * lr_lambda(last_epoch)``, not at the initial step."""

    def __init__(self, groups: Groups, lr_lambda: Callable[[int], float], last_epoch: int = -1) -> None:
        self.lr_lambda = lr_lambda
        super().__init__(groups, last_epoch)

    def get_lr(self) -> list[float]:
        if not self.is_initial:
            return [lr * self.lr_lambda(self.last_epoch) for lr in self.lr()]
        return self.lr()


class SimStep(SimScheduler):
    """``StepLR`` (L592-676, ``get_lr`` L633)."""

    closed_form = True

    def __init__(self, groups: Groups, step_size: int, gamma: float, last_epoch: int = -1) -> None:
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(groups, last_epoch)

    def get_lr(self) -> list[float]:
        if (self.last_epoch == 0) or (self.last_epoch % self.step_size != 0):
            return self.lr()
        return [lr * self.gamma for lr in self.lr()]

    def get_closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class SimMultiStep(SimScheduler):
    """``MultiStepLR`` (L679-770, ``get_lr`` L719): ``milestones`` is a Counter (milestone -> times listed)."""

    closed_form = True

    def __init__(self, groups: Groups, milestones: Mapping[int, int], gamma: float, last_epoch: int = -1) -> None:
        self.milestones = dict(milestones)
        self.gamma = gamma
        super().__init__(groups, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return self.lr()
        return [lr * self.gamma ** self.milestones[self.last_epoch] for lr in self.lr()]

    def get_closed_form_lr(self) -> list[float]:
        milestones = sorted(m for m, n in self.milestones.items() for _ in range(n))
        return [base_lr * self.gamma ** bisect_right(milestones, self.last_epoch) for base_lr in self.base_lrs]


class SimConstant(SimScheduler):
    """``ConstantLR`` (L773-874, ``get_lr`` L823)."""

    closed_form = True

    def __init__(self, groups: Groups, factor: float, total_iters: int, last_epoch: int = -1) -> None:
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(groups, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.factor for lr in self.lr()]
        if self.last_epoch != self.total_iters:
            return self.lr()
        return [lr * (1.0 / self.factor) for lr in self.lr()]

    def get_closed_form_lr(self) -> list[float]:
        return [base_lr * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))
                for base_lr in self.base_lrs]


class SimLinear(SimScheduler):
    """``LinearLR`` (L877-1004, ``get_lr`` L937)."""

    closed_form = True

    def __init__(self, groups: Groups, start_factor: float, end_factor: float, total_iters: int,
                 last_epoch: int = -1) -> None:
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(groups, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self.lr()]
        if self.is_initial or self.last_epoch > self.total_iters:
            return self.lr()
        return [lr * (1.0 + (self.end_factor - self.start_factor)
                      / (self.total_iters * self.start_factor + (self.last_epoch - 1)
                         * (self.end_factor - self.start_factor)))
                for lr in self.lr()]

    def get_closed_form_lr(self) -> list[float]:
        return [base_lr * (self.start_factor + (self.end_factor - self.start_factor)
                           * min(self.total_iters, self.last_epoch) / self.total_iters)
                for base_lr in self.base_lrs]


class SimExponential(SimScheduler):
    """``ExponentialLR`` (L1007-1079, ``get_lr`` L1038)."""

    closed_form = True

    def __init__(self, groups: Groups, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(groups, last_epoch)

    def get_lr(self) -> list[float]:
        if self.is_initial:
            return self.lr()
        return [lr * self.gamma for lr in self.lr()]

    def get_closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** self.last_epoch for base_lr in self.base_lrs]


class SimPolynomial(SimScheduler):
    """``PolynomialLR`` (L1237-1335, ``get_lr`` L1276)."""

    closed_form = True

    def __init__(self, groups: Groups, total_iters: int, power: float, last_epoch: int = -1) -> None:
        self.total_iters = total_iters
        self.power = power
        super().__init__(groups, last_epoch)

    def get_lr(self) -> list[float]:
        if self.is_initial or self.last_epoch > self.total_iters:
            return self.lr()
        decay_factor = ((1.0 - self.last_epoch / self.total_iters)
                        / (1.0 - (self.last_epoch - 1) / self.total_iters)) ** self.power
        return [lr * decay_factor for lr in self.lr()]

    def get_closed_form_lr(self) -> list[float]:
        return [base_lr * (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power
                for base_lr in self.base_lrs]


class SimCosine(SimScheduler):
    """``CosineAnnealingLR`` (L1338-1475, ``get_lr`` L1400): the recursive form, with its special cases."""

    closed_form = True

    def __init__(self, groups: Groups, T_max: int, eta_min: float, last_epoch: int = -1) -> None:
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(groups, last_epoch)

    def get_lr(self) -> list[float]:
        e, t_max, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self.is_initial:
            return self.lr()
        if self.step_count == 1 and e > 0:
            return [eta_min + (base_lr - eta_min) * (1 + math.cos((e) * math.pi / t_max)) / 2
                    for base_lr in self.base_lrs]
        if (e - 1 - t_max) % (2 * t_max) == 0:
            return [lr + (base_lr - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
                    for base_lr, lr in zip(self.base_lrs, self.lr(), strict=True)]
        return [(1 + math.cos(math.pi * e / t_max)) / (1 + math.cos(math.pi * (e - 1) / t_max)) * (lr - eta_min)
                + eta_min for lr in self.lr()]

    def get_closed_form_lr(self) -> list[float]:
        return [cosine_lr(base_lr, self.eta_min, self.last_epoch, self.T_max) for base_lr in self.base_lrs]


class SimWarmRestarts(SimScheduler):
    """``CosineAnnealingWarmRestarts`` (L2105-2274, ``step`` L2211): its own ``step`` advances ``T_cur``/``T_i`` by one and
    never touches ``_step_count`` (0 after the initial step); the LR depends on ``T_cur``/``T_i`` alone."""

    def __init__(self, groups: Groups, T_0: int, T_mult: int, eta_min: float, last_epoch: int = -1) -> None:
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur = last_epoch
        super().__init__(groups, last_epoch)

    def get_lr(self) -> list[float]:
        return [cosine_lr(base_lr, self.eta_min, self.T_cur, self.T_i) for base_lr in self.base_lrs]

    def step(self) -> None:
        if self.last_epoch < 0:  # step(epoch=0): the closed path, below T_0
            epoch = 0
            self.T_i = self.T_0
            self.T_cur = epoch
        else:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        self.last_epoch = math.floor(epoch)
        self.groups.set("lr", self.get_lr())
        self.last_lr = self.groups.values("lr")

    def load(self, state: Mapping[str, Any]) -> None:
        super().load(state)
        if state.get("T_cur") is not None:
            self.T_cur = state["T_cur"]
        if state.get("T_i") is not None:
            self.T_i = state["T_i"]


def _triangular(x: float) -> float:
    return 1.0


def _triangular2(x: float) -> float:
    return 1 / (2.0 ** (x - 1))


class SimCyclic(SimScheduler):
    """``CyclicLR`` (L1788-2102, ``get_lr`` L2001): a function of ``last_epoch`` alone (``base_lrs`` are its ``base_lr``)."""

    def __init__(self, groups: Groups, base_lrs: Sequence[float], max_lrs: Sequence[float], total_size: float,
                 step_ratio: float, mode: str, gamma: float, scale_mode: str, last_epoch: int = -1) -> None:
        if last_epoch == -1:
            groups.set("lr", list(base_lrs))
        self.max_lrs = list(max_lrs)
        self.total_size = total_size
        self.step_ratio = step_ratio
        self.mode = mode
        self.gamma = gamma
        self.scale_mode = scale_mode
        super().__init__(groups, last_epoch)
        self.base_lrs = list(base_lrs)

    def scale_fn(self, x: float) -> float:
        if self.mode == "triangular":
            return _triangular(x)
        if self.mode == "triangular2":
            return _triangular2(x)
        if self.mode == "exp_range":
            return self.gamma ** x
        raise ValueError(f"CyclicLR mode {self.mode!r} has no built-in scale function")

    def get_lr(self) -> list[float]:
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        if x <= self.step_ratio:
            scale_factor = x / self.step_ratio
        else:
            scale_factor = (x - 1) / (self.step_ratio - 1)
        lrs = []
        for base_lr, max_lr in zip(self.base_lrs, self.max_lrs, strict=True):
            base_height = (max_lr - base_lr) * scale_factor
            if self.scale_mode == "cycle":
                lr = base_lr + base_height * self.scale_fn(cycle)
            else:
                lr = base_lr + base_height * self.scale_fn(self.last_epoch)
            lrs.append(lr)
        return lrs


class SimOneCycle(SimScheduler):
    """``OneCycleLR`` (L2285-2606, ``get_lr`` L2546): reads ``initial_lr``, ``max_lr``, ``min_lr`` from the param groups."""

    def __init__(self, groups: Groups, total_steps: int, phases: Sequence[Mapping[str, Any]], anneal: str,
                 last_epoch: int = -1) -> None:
        self.total_steps = total_steps
        self.phases = [dict(p) for p in phases]
        self.anneal = anneal
        super().__init__(groups, last_epoch)

    def anneal_func(self, start: float, end: float, pct: float) -> float:
        if self.anneal == "cos":
            cos_out = math.cos(math.pi * pct) + 1
            return end + (start - end) / 2.0 * cos_out
        if self.anneal == "linear":
            return (end - start) * pct + start
        raise ValueError(f"Unknown _anneal_func_type: {self.anneal}")

    def get_lr(self) -> list[float]:
        lrs = []
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise ValueError(f"Tried to step {step_num} times. The specified number of total steps is {self.total_steps}")
        for group in self.groups.groups:
            start_step = 0.0
            computed_lr = None
            for i, phase in enumerate(self.phases):
                end_step = phase["end_step"]
                if step_num <= end_step or i == len(self.phases) - 1:
                    pct = (step_num - start_step) / (end_step - start_step)
                    computed_lr = self.anneal_func(group[phase["start_lr"]], group[phase["end_lr"]], pct)
                    break
                start_step = phase["end_step"]
            lrs.append(computed_lr)
        return lrs


class SimSequential:
    """``SequentialLR`` (L1082-1234, ``step`` L1186): members built first (each with its initial step), then the reset,
    the undo of every member's position, and the first member's initial step. No ``_step_count``."""

    def __init__(self, groups: Groups, members: Sequence[Any], milestones: Sequence[int], last_epoch: int = -1) -> None:
        self.groups = groups
        self.members = list(members)
        self.milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        groups.set("lr", groups.values("initial_lr"))
        self.undo()
        idx = bisect_right(self.milestones, 0)
        self.members[idx].initial_step()
        self.last_lr = list(self.members[idx].last_lr)

    def undo(self) -> None:
        for m in self.members:
            m.undo()

    def step(self) -> None:
        self.last_epoch += 1
        idx = bisect_right(self.milestones, self.last_epoch)
        member = self.members[idx]
        if idx > 0 and self.milestones[idx - 1] == self.last_epoch:
            member.update_lr(0)
        else:
            member.step()
        self.last_lr = list(member.last_lr)

    def initial_step(self) -> None:  # as a member of another composite: SequentialLR has no _initial_step of its own
        raise NotImplementedError("a SequentialLR nested in a SequentialLR")

    def load(self, state: Mapping[str, Any]) -> None:
        if "last_epoch" in state:
            self.last_epoch = state["last_epoch"]
        if state.get("last_lr") is not None:
            self.last_lr = list(state["last_lr"])
        for m, s in zip(self.members, state.get("members") or ()):
            m.load(s)


class SimChained:
    """``ChainedScheduler`` (L1478-1581, ``step`` L1539): every member steps, in order, on the shared LRs; no position of its own."""

    def __init__(self, groups: Groups, members: Sequence[Any]) -> None:
        self.groups = groups
        self.members = list(members)
        self.last_lr = groups.values("lr")

    def step(self) -> None:
        for m in self.members:
            m.step()
        self.last_lr = self.groups.values("lr")

    def undo(self) -> None:
        for m in self.members:
            m.undo()

    def load(self, state: Mapping[str, Any]) -> None:
        if state.get("last_lr") is not None:
            self.last_lr = list(state["last_lr"])
        for m, s in zip(self.members, state.get("members") or ()):
            m.load(s)
