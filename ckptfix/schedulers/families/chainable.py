"""torch's chainable schedulers: each ``step()`` multiplies the optimizer's current LR by a ratio of the
position, so the LR after a ``last_epoch`` set from outside continues from the stored LR, not from the
closed form (``advance`` replays that). Every parameter the math reads is saved in the state.

Sources: torch 2.13.0 ``torch/optim/lr_scheduler.py`` (lines in ``torch_sim``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ckptfix.coerce import as_int

from .interface import Context, FamilyMatch
from .simulated import SimulatedFamily, need
from .state import has_keys, lacks_keys, match_from, param_int, param_real, short
from .torch_sim import Groups, SimConstant, SimCosine, SimExponential, SimLinear, SimMultiStep, SimPolynomial, SimStep

__all__ = [
    "CONSTANT_LR",
    "COSINE_ANNEALING_LR",
    "EXPONENTIAL_LR",
    "LINEAR_LR",
    "MULTI_STEP_LR",
    "POLYNOMIAL_LR",
    "STEP_LR",
    "ChainableFamily",
]

_TORCH = "torch 2.13.0 torch/optim/lr_scheduler.py"


class ChainableFamily(SimulatedFamily):
    """A chainable torch scheduler: ``keys`` identify it, ``absent`` rule out look-alikes."""

    closed_form = True
    keys: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()

    def recognise(self, state: Mapping[str, Any]) -> FamilyMatch | None:
        if not (has_keys(state, self.keys) and has_keys(state, ("last_epoch",)) and lacks_keys(state, self.absent)):
            return None
        evidence: list[str] = [f"keys {', '.join(self.keys)}: torch {self.name}."]
        return match_from(state, self.name, self.name, self.read(state, evidence), evidence)

    def read(self, state: Mapping[str, Any], evidence: list[str]) -> dict[str, Any]:
        raise NotImplementedError


class _StepLR(ChainableFamily):
    name = "StepLR"
    torch_classes = ("StepLR",)
    keys = saved = ("step_size", "gamma")
    source = f"{_TORCH}:592-676"

    def read(self, state, evidence):
        return {"step_size": param_int(state, "step_size", evidence, 1), "gamma": param_real(state, "gamma", evidence)}

    def build(self, groups: Groups, match: FamilyMatch, context: Context | None) -> SimStep:
        step_size, gamma = need(match, "step_size", "gamma")
        return SimStep(groups, step_size, gamma)


class _MultiStepLR(ChainableFamily):
    name = "MultiStepLR"
    torch_classes = ("MultiStepLR",)
    keys = saved = ("milestones", "gamma")
    source = f"{_TORCH}:679-770"
    note = "milestones is a collections.Counter (milestone -> times listed)"

    def read(self, state, evidence):
        raw = state.get("milestones")
        milestones = None
        if isinstance(raw, dict):
            pairs = [(as_int(k), as_int(v)) for k, v in raw.items()]
            if all(k is not None and v is not None and v >= 1 for k, v in pairs):
                milestones = dict(pairs)
        if milestones is None:
            evidence.append(f"milestones={short(raw)} is not a mapping of integer milestones to counts.")
        return {"milestones": milestones, "gamma": param_real(state, "gamma", evidence)}

    def build(self, groups, match, context) -> SimMultiStep:
        milestones, gamma = need(match, "milestones", "gamma")
        return SimMultiStep(groups, milestones, gamma)


class _ConstantLR(ChainableFamily):
    name = "ConstantLR"
    torch_classes = ("ConstantLR",)
    keys = saved = ("factor", "total_iters")
    absent = ("patience", "min_lrs", "start_factor", "power")
    source = f"{_TORCH}:773-874"

    def read(self, state, evidence):
        return {"factor": param_real(state, "factor", evidence), "total_iters": param_int(state, "total_iters", evidence, 0)}

    def build(self, groups, match, context) -> SimConstant:
        factor, total_iters = need(match, "factor", "total_iters")
        return SimConstant(groups, factor, total_iters)


class _LinearLR(ChainableFamily):
    name = "LinearLR"
    torch_classes = ("LinearLR",)
    keys = saved = ("start_factor", "end_factor", "total_iters")
    source = f"{_TORCH}:877-1004"

    def read(self, state, evidence):
        return {"start_factor": param_real(state, "start_factor", evidence),
                "end_factor": param_real(state, "end_factor", evidence),
                "total_iters": param_int(state, "total_iters", evidence, 0)}

    def build(self, groups, match, context) -> SimLinear:
        start, end, total = need(match, "start_factor", "end_factor", "total_iters")
        return SimLinear(groups, start, end, total)


class _ExponentialLR(ChainableFamily):
    name = "ExponentialLR"
    torch_classes = ("ExponentialLR",)
    keys = saved = ("gamma",)
    absent = ("step_size", "milestones", "max_lrs", "total_size", "factor")
    source = f"{_TORCH}:1007-1079"

    def read(self, state, evidence):
        return {"gamma": param_real(state, "gamma", evidence)}

    def build(self, groups, match, context) -> SimExponential:
        (gamma,) = need(match, "gamma")
        return SimExponential(groups, gamma)


class _PolynomialLR(ChainableFamily):
    name = "PolynomialLR"
    torch_classes = ("PolynomialLR",)
    keys = saved = ("total_iters", "power")
    source = f"{_TORCH}:1237-1335"

    def read(self, state, evidence):
        return {"total_iters": param_int(state, "total_iters", evidence, 1), "power": param_real(state, "power", evidence)}

    def build(self, groups, match, context) -> SimPolynomial:
        total, power = need(match, "total_iters", "power")
        return SimPolynomial(groups, total, power)


class _CosineAnnealingLR(ChainableFamily):
    name = "CosineAnnealingLR"
    torch_classes = ("CosineAnnealingLR",)
    keys = saved = ("T_max", "eta_min")
    source = f"{_TORCH}:1338-1475"
    note = ("recursive: lr_e = eta_min + (lr_{e-1} - eta_min)·(1+cos(πe/T_max))/(1+cos(π(e-1)/T_max)), not the "
            "closed form; periodic past T_max (period 2·T_max)")

    def read(self, state, evidence):
        return {"T_max": param_int(state, "T_max", evidence, 1), "eta_min": param_real(state, "eta_min", evidence)}

    def build(self, groups, match, context) -> SimCosine:
        t_max, eta_min = need(match, "T_max", "eta_min")
        return SimCosine(groups, t_max, eta_min)


STEP_LR = _StepLR()
MULTI_STEP_LR = _MultiStepLR()
CONSTANT_LR = _ConstantLR()
LINEAR_LR = _LinearLR()
EXPONENTIAL_LR = _ExponentialLR()
POLYNOMIAL_LR = _PolynomialLR()
COSINE_ANNEALING_LR = _CosineAnnealingLR()
