"""The shared machinery of the families whose LRs come from replaying torch's stepping (``torch_sim``).

``lrs_at`` builds the scheduler fresh on param groups at its ``base_lrs`` and steps it to the position:
exactly torch's values, in ``O(position)``. Beyond ``EXACT_STEPS`` a family with a closed form (torch's own
``_get_closed_form_lr``) answers in ``O(1)``; for the chainable classes that differs from torch's recursion
by float rounding only, within ``FAR_REL_TOL`` (``tolerance`` says which applies).
``advance`` loads a stored state into the replica (position, ``_step_count``, the optimizer's LRs) and
steps it, which is how a resume that sets ``last_epoch`` from outside continues.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from .interface import FAR_REL_TOL, REL_TOL, Context, Family, FamilyMatch, NeedsConfig, current_lrs
from .torch_sim import Groups, SimScheduler

__all__ = ["EXACT_STEPS", "SimulatedFamily", "lr_groups", "need", "require_lrs"]

#: Positions up to this are replayed step by step (bit-identical to torch); beyond, a closed form is used
#: where the class has one. ~0.3-0.6 s at this bound for the slowest class (CosineAnnealingLR), one group.
EXACT_STEPS = 200_000


def need(match: FamilyMatch, *keys: str) -> list[Any]:
    """The family parameters ``keys`` of ``match``; ``ValueError`` naming those that are unusable."""
    values = [match.params.get(k) for k in keys]
    missing = [k for k, v in zip(keys, values) if v is None]
    if missing:
        raise ValueError(f"{match.family}: unusable or missing {', '.join(missing)} in the state")
    return values


def require_lrs(match: FamilyMatch) -> tuple[float, ...]:
    if not match.base_lrs:
        raise ValueError(f"{match.family}: base_lrs missing or not numbers")
    return match.base_lrs


class SimulatedFamily(Family):
    """A family replayed by a ``torch_sim`` class: subclasses say how to build it from a match."""

    #: the class has torch's ``_get_closed_form_lr`` (used beyond ``EXACT_STEPS``)
    closed_form: bool = False

    @abstractmethod
    def build(self, groups: Groups, match: FamilyMatch, context: Context | None) -> Any:
        """The replica, freshly constructed on ``groups`` (which hold the base LRs)."""

    def groups(self, match: FamilyMatch, context: Context | None) -> Groups:
        return Groups(require_lrs(match))

    def fresh(self, match: FamilyMatch, position: int, context: Context | None) -> Any:
        """A replica stepped from construction to ``last_epoch = position``."""
        if position < 0:
            raise ValueError(f"{self.name}: position {position} is before the first step (0)")
        sim = self.build(self.groups(match, context), match, context)
        start = sim.last_epoch
        if position < start:
            raise ValueError(f"{self.name}: position {position} is before the constructed position {start}")
        if position - start > EXACT_STEPS and self.closed_form and isinstance(sim, SimScheduler):
            sim.update_lr(position)  # torch's closed form at that epoch (the step(epoch) path)
            sim.step_count = position + 1
            return sim
        for _ in range(position - start):
            sim.step()
        return sim

    def lrs_at(self, match: FamilyMatch, position: int, context: Context | None = None) -> list[float]:
        return list(self.fresh(match, position, context).last_lr)

    def tolerance(self, position: int) -> float:
        return FAR_REL_TOL if self.closed_form and position > EXACT_STEPS else REL_TOL

    def lrs_many(self, match: FamilyMatch, positions: Sequence[int], context: Context | None = None
                 ) -> list[list[float]]:
        if type(self).lrs_at is not SimulatedFamily.lrs_at:  # a closed form of its own: exact at any position
            return Family.lrs_many(self, match, positions, context)
        if not positions:
            return []
        if any(b < a for a, b in zip(positions, positions[1:])):
            raise ValueError(f"{self.name}: positions must ascend")
        sim = self.fresh(match, positions[0], context)
        out, at = [], positions[0]
        for p in positions:
            for _ in range(p - at):
                sim.step()
            at = p
            out.append(list(sim.last_lr))
        return out

    def advance_many(self, match: FamilyMatch, lrs: Sequence[float] | None = None, set_last_epoch: int | None = None,
                     steps: Sequence[int] = (), context: Context | None = None) -> list[list[float]]:
        if type(self).advance is not SimulatedFamily.advance:  # its own advance (LambdaLR: a function of the position)
            return Family.advance_many(self, match, lrs, set_last_epoch, steps, context)
        if not steps:
            return []
        if any(b < a for a, b in zip(steps, steps[1:])) or steps[0] < 0:
            raise ValueError(f"{self.name}: steps must ascend from 0")
        sim = self._loaded(match, lrs, set_last_epoch, context)
        out, done = [], 0
        for k in steps:
            for _ in range(k - done):
                sim.step()
            done = k
            out.append(sim.groups.values("lr"))
        return out

    def _loaded(self, match: FamilyMatch, lrs: Sequence[float] | None, set_last_epoch: int | None,
                context: Context | None) -> Any:
        """The replica after loading ``match``'s state (and ``last_epoch`` set from outside), not stepped."""
        current = current_lrs(self.name, match, lrs)
        if match.position is None and set_last_epoch is None:
            raise NeedsConfig(self.name, ("last_epoch",), "the state keeps no position")
        sim = self.build(self.groups(match, context), match, context)
        sim.load(self.stored(match))
        if set_last_epoch is not None:
            sim.last_epoch = set_last_epoch
        sim.groups.set("lr", current)
        return sim

    def stored(self, match: FamilyMatch) -> dict[str, Any]:
        """What ``load`` puts back from the match (a family adds its own position fields)."""
        return {"last_epoch": match.position, "step_count": match.step_count, "base_lrs": match.base_lrs,
                "last_lr": match.last_lr}

    def advance(self, match: FamilyMatch, lrs: Sequence[float] | None = None, set_last_epoch: int | None = None,
                steps: int = 0, context: Context | None = None) -> list[float]:
        sim = self._loaded(match, lrs, set_last_epoch, context)
        for _ in range(steps):
            sim.step()
        return sim.groups.values("lr")

    def fields(self, match: FamilyMatch, sim: Any) -> dict[str, Any]:
        """The position keys of a replica of ``match``, as its ``state_dict()`` would hold them."""
        return {"last_epoch": sim.last_epoch, "_step_count": sim.step_count, "_last_lr": list(sim.last_lr)}

    def state_at(self, match: FamilyMatch, position: int, context: Context | None = None) -> dict[str, Any]:
        try:
            return self.fields(match, self.fresh(match, position, context))
        except NeedsConfig:
            return {"last_epoch": position, "_step_count": position + 1}


def lr_groups(base_lrs: Sequence[float], optimizer_groups: Sequence[Mapping[str, Any]] | None,
              keys: Sequence[str]) -> list[dict[str, Any]] | None:
    """The ``keys`` of each optimizer param group, when every group has them as numbers."""
    if optimizer_groups is None or len(optimizer_groups) != len(base_lrs):
        return None
    out = []
    for g in optimizer_groups:
        vals = {k: g.get(k) for k in keys}
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in vals.values()):
            return None
        out.append(vals)
    return out
