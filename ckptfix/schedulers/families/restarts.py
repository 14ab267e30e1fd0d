"""torch ``CosineAnnealingWarmRestarts`` (SGDR): the LR is a function of ``T_cur``/``T_i``, which its ``step``
advances by one (wrapping at ``T_i``, then ``T_i *= T_mult``). A fresh run's ``(T_cur, T_i)`` at a position is
``formulas.sine_position`` (exact integers, the fixed sine's position too), so ``lrs_at`` is exact in
``O(1)``. After a ``last_epoch`` set from outside, ``T_cur``/``T_i`` keep their stored values and go on from
there (``advance``). ``_step_count`` stays 0: its ``step`` never counts (torch 2.13).

At a restart (``T_cur = 0``) its LR is ``base_lr``, as the fixed ``sine``'s is: a state there fits both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..formulas import cosine_lr, sine_position
from .interface import Context, FamilyMatch
from .simulated import SimulatedFamily, need, require_lrs
from .state import has_keys, lacks_keys, match_from, param_int, param_real
from .torch_sim import Groups, SimWarmRestarts

__all__ = ["WARM_RESTARTS"]

#: the keys only SimpleTuner's and ckptfix's own classes add to this layout
FOREIGN = ("steps_per_epoch", "total_steps", "last_step")


class _WarmRestarts(SimulatedFamily):
    name = "CosineAnnealingWarmRestarts"
    torch_classes = ("CosineAnnealingWarmRestarts",)
    position_keys = ("last_epoch", "T_cur", "T_i")
    saved = ("T_0", "T_mult", "eta_min", "T_cur", "T_i")
    source = "torch 2.13.0 torch/optim/lr_scheduler.py:2105-2274"
    note = "equals the fixed sine at each restart; users often step it once per epoch, not per optimizer step"

    def recognise(self, state: Mapping[str, Any]) -> FamilyMatch | None:
        if not (has_keys(state, ("T_0", "T_i", "T_mult", "T_cur", "eta_min", "last_epoch")) and lacks_keys(state, FOREIGN)):
            return None
        evidence = ["keys T_0, T_i, T_mult, T_cur, eta_min without steps_per_epoch/total_steps: "
                    "torch CosineAnnealingWarmRestarts (or a fixed-sine state written without steps_per_epoch)."]
        params = {"T_0": param_int(state, "T_0", evidence, 1), "T_mult": param_int(state, "T_mult", evidence, 1),
                  "eta_min": param_real(state, "eta_min", evidence), "T_cur": param_int(state, "T_cur", evidence, -1),
                  "T_i": param_int(state, "T_i", evidence, 1)}
        return match_from(state, self.name, self.name, params, evidence)

    def build(self, groups: Groups, match: FamilyMatch, context: Context | None) -> SimWarmRestarts:
        t0, tm, eta = need(match, "T_0", "T_mult", "eta_min")
        return SimWarmRestarts(groups, t0, tm, eta)

    def lrs_at(self, match: FamilyMatch, position: int, context: Context | None = None) -> list[float]:
        t0, tm, eta = need(match, "T_0", "T_mult", "eta_min")
        t_cur, t_i = sine_position(position, t0, tm)
        return [cosine_lr(b, eta, t_cur, t_i) for b in require_lrs(match)]

    def stored(self, match: FamilyMatch) -> dict[str, Any]:
        return {**super().stored(match), "T_cur": match.params.get("T_cur"), "T_i": match.params.get("T_i")}

    def fields(self, match: FamilyMatch, sim: Any) -> dict[str, Any]:
        return {**super().fields(match, sim), "T_cur": sim.T_cur, "T_i": sim.T_i}

    def state_at(self, match: FamilyMatch, position: int, context: Context | None = None) -> dict[str, Any]:
        t0, tm = need(match, "T_0", "T_mult")
        t_cur, t_i = sine_position(position, t0, tm)
        out: dict[str, Any] = {"last_epoch": position, "T_cur": t_cur, "T_i": t_i}
        if match.base_lrs and match.params.get("eta_min") is not None:
            out["_last_lr"] = self.lrs_at(match, position, context)
        return out


WARM_RESTARTS = _WarmRestarts()
