"""torch ``CyclicLR`` and ``OneCycleLR``: the LR is a function of ``last_epoch`` alone (no recursion), so
``lrs_at`` is exact in ``O(1)`` and a ``last_epoch`` set from outside simply moves along the schedule.

``CyclicLR`` saves everything its built-in modes need (``base_lrs`` are its ``base_lr``, ``max_lrs``,
``total_size``, ``step_ratio``, ``mode``, ``gamma``, ``scale_mode``); a custom ``scale_fn`` is code: a callable
object's attributes are saved in ``_scale_fn_custom`` (then the LRs need it), a plain function leaves ``None``
and looks like the built-in mode (the LR check then fails). ``OneCycleLR`` reads ``max_lr`` and ``min_lr`` from
the optimizer's param groups, not from its own state: they come from ``optimizer.bin``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ckptfix.coerce import as_real, as_reals

from .interface import Context, FamilyMatch, NeedsConfig
from .simulated import SimulatedFamily, lr_groups, need, require_lrs
from .state import has_keys, match_from, param_int, param_real, param_str, short
from .torch_sim import Groups, SimCyclic, SimOneCycle

__all__ = ["CYCLIC_LR", "ONE_CYCLE_LR"]

_TORCH = "torch 2.13.0 torch/optim/lr_scheduler.py"


class _CyclicLR(SimulatedFamily):
    name = "CyclicLR"
    torch_classes = ("CyclicLR",)
    saved = ("base_lrs", "max_lrs", "total_size", "step_ratio", "mode", "gamma", "scale_mode")
    source = f"{_TORCH}:1788-2102"
    note = "a custom scale_fn is not saved (a function) or saved as its attributes only (a callable object)"

    def recognise(self, state: Mapping[str, Any]) -> FamilyMatch | None:
        if not has_keys(state, ("max_lrs", "total_size", "step_ratio", "mode", "last_epoch")):
            return None
        evidence = ["keys max_lrs, total_size, step_ratio, mode: torch CyclicLR."]
        max_lrs = as_reals(state.get("max_lrs"))
        if max_lrs is None:
            evidence.append(f"max_lrs={short(state.get('max_lrs'))} is not a list of finite numbers.")
        custom = state.get("_scale_fn_custom")
        if custom is not None:
            evidence.append(f"a custom scale_fn (a callable object; its attributes {short(custom)}) is not saved.")
        params = {"max_lrs": tuple(max_lrs) if max_lrs else None, "total_size": param_real(state, "total_size", evidence),
                  "step_ratio": param_real(state, "step_ratio", evidence),
                  "mode": param_str(state, "mode", evidence, ("triangular", "triangular2", "exp_range")),
                  "gamma": param_real(state, "gamma", evidence),
                  "scale_mode": param_str(state, "scale_mode", evidence, ("cycle", "iterations")),
                  "custom_scale_fn": custom is not None}
        return match_from(state, self.name, self.name, params, evidence)

    def build(self, groups: Groups, match: FamilyMatch, context: Context | None) -> SimCyclic:
        if match.params.get("custom_scale_fn"):
            raise NeedsConfig(self.name, ("the custom scale_fn",), "torch saves a custom scale_fn's attributes, not its code")
        max_lrs, total, ratio, mode, gamma, scale_mode = need(match, "max_lrs", "total_size", "step_ratio", "mode",
                                                               "gamma", "scale_mode")
        return SimCyclic(groups, require_lrs(match), max_lrs, total, ratio, mode, gamma, scale_mode)

    def lrs_at(self, match: FamilyMatch, position: int, context: Context | None = None) -> list[float]:
        if position < 0:
            raise ValueError(f"{self.name}: position {position} is before the first step (0)")
        sim = self.build(self.groups(match, context), match, context)
        sim.last_epoch = position
        return sim.get_lr()


class _OneCycleLR(SimulatedFamily):
    name = "OneCycleLR"
    torch_classes = ("OneCycleLR",)
    saved = ("base_lrs", "total_steps", "_schedule_phases", "_anneal_func_type")
    from_optimizer = ("max_lr", "min_lr")
    source = f"{_TORCH}:2285-2606"
    note = "max_lr and min_lr live in the optimizer's param groups (optimizer.bin), not in the scheduler state"

    def recognise(self, state: Mapping[str, Any]) -> FamilyMatch | None:
        if not has_keys(state, ("total_steps", "_schedule_phases", "last_epoch")):
            return None
        evidence = ["keys total_steps, _schedule_phases: torch OneCycleLR."]
        phases = state.get("_schedule_phases")
        good = (isinstance(phases, list) and phases and all(
            isinstance(p, dict) and as_real(p.get("end_step")) is not None
            and all(p.get(k) in ("initial_lr", "max_lr", "min_lr") for k in ("start_lr", "end_lr")) for p in phases))
        if not good:
            evidence.append(f"_schedule_phases={short(phases)} is not a list of phases.")
        params = {"total_steps": param_int(state, "total_steps", evidence, 1),
                  "phases": tuple({"end_step": float(p["end_step"]), "start_lr": p["start_lr"], "end_lr": p["end_lr"]}
                                  for p in phases) if good else None,
                  "anneal": param_str(state, "_anneal_func_type", evidence, ("cos", "linear"))}
        return match_from(state, self.name, self.name, params, evidence)

    def groups(self, match: FamilyMatch, context: Context | None) -> Groups:
        base = require_lrs(match)
        extra = lr_groups(base, context.optimizer_groups if context else None, ("max_lr", "min_lr"))
        if extra is None:
            raise NeedsConfig(self.name, ("optimizer param_groups max_lr, min_lr",),
                              "OneCycleLR reads max_lr and min_lr from the optimizer's param groups")
        return Groups(base, [{"initial_lr": b, **e} for b, e in zip(base, extra)])

    def build(self, groups: Groups, match: FamilyMatch, context: Context | None) -> SimOneCycle:
        total, phases, anneal = need(match, "total_steps", "phases", "anneal")
        return SimOneCycle(groups, total, phases, anneal)

    def lrs_at(self, match: FamilyMatch, position: int, context: Context | None = None) -> list[float]:
        if position < 0:
            raise ValueError(f"{self.name}: position {position} is before the first step (0)")
        sim = self.build(self.groups(match, context), match, context)
        sim.last_epoch = position
        return sim.get_lr()


CYCLIC_LR = _CyclicLR()
ONE_CYCLE_LR = _OneCycleLR()
