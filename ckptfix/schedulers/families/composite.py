"""torch ``SequentialLR`` and ``ChainedScheduler``: states that nest their members' states in ``_schedulers``.

``SequentialLR`` keeps its own ``last_epoch`` (no ``_step_count``, no ``base_lrs``) and ``_milestones``; at a
milestone the next member restarts at ``last_epoch = 0`` through ``_update_lr(0)`` (its closed form if it has
one), so its members' positions are not the parent's. ``ChainedScheduler`` keeps no position of its own:
every member steps on every step, in order, each multiplying the LR the previous one left. Both are replayed
member by member on shared param groups (``torch_sim``), as torch builds them: the members first (each with
its initial step), then the composite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ckptfix.coerce import as_int

from .interface import Context, Family, FamilyMatch, NeedsConfig, current_lrs
from .simulated import SimulatedFamily
from .state import has_keys, match_from, short
from .torch_sim import Groups, SimChained, SimSequential

__all__ = ["ChainedFamily", "SequentialFamily"]

_TORCH = "torch 2.13.0 torch/optim/lr_scheduler.py"


class _Composite(SimulatedFamily):
    """The members are recognised with ``members`` (the families a member may be), first match wins."""

    def __init__(self, members: Sequence[Family]) -> None:
        self.members = tuple(members)

    def children(self, state: Mapping[str, Any], evidence: list[str]) -> tuple[FamilyMatch, ...] | None:
        raw = state.get("_schedulers")
        if not isinstance(raw, list) or not raw or not all(isinstance(s, dict) for s in raw):
            evidence.append(f"_schedulers={short(raw)} is not a list of scheduler states.")
            return None
        out = []
        for i, s in enumerate(raw):
            found = next((m for f in self.members if (m := f.recognise(s)) is not None), None)
            if found is None:
                evidence.append(f"_schedulers[{i}] is no scheduler ckptfix knows (keys {short(sorted(map(str, s)))}).")
                return None
            out.append(found)
        evidence.append("members: " + ", ".join(c.family for c in out) + ".")
        return tuple(out)

    def member_family(self, child: FamilyMatch) -> SimulatedFamily:
        for f in self.members:
            if f.name == child.family and isinstance(f, SimulatedFamily):
                return f
        raise NeedsConfig(self.name, (child.family,), f"member {child.family} cannot be replayed")

    def groups(self, match: FamilyMatch, context: Context | None) -> Groups:
        if not match.children:
            raise ValueError(f"{self.name}: members not recognised")
        first = match.children[0]
        if not first.base_lrs:
            raise ValueError(f"{self.name}: its first member has no usable base_lrs")
        return self.member_family(first).groups(first, context)

    def built_members(self, groups: Groups, match: FamilyMatch, context: Context | None) -> list[Any]:
        if not match.children:
            raise ValueError(f"{self.name}: members not recognised")
        return [self.member_family(c).build(groups, c, context) for c in match.children]

    def member_states(self, match: FamilyMatch) -> list[dict[str, Any]]:
        return [self.member_family(c).stored(c) for c in match.children]

    def fields(self, match: FamilyMatch, sim: Any) -> dict[str, Any]:
        members = [self.member_family(c).fields(c, m) for c, m in zip(match.children, sim.members)]
        return {"_last_lr": list(sim.last_lr), "_schedulers": members}


class SequentialFamily(_Composite):
    name = "SequentialLR"
    torch_classes = ("SequentialLR",)
    position_keys = ("last_epoch", "_schedulers[i].last_epoch", "_schedulers[i]._step_count")
    saved = ("_milestones", "_schedulers")
    source = f"{_TORCH}:1082-1234"

    def recognise(self, state: Mapping[str, Any]) -> FamilyMatch | None:
        if not has_keys(state, ("_schedulers", "_milestones")):
            return None
        evidence = ["keys _schedulers, _milestones: torch SequentialLR."]
        raw = state.get("_milestones")
        milestones = [as_int(m) for m in raw] if isinstance(raw, list) else None
        if milestones is None or any(m is None for m in milestones):
            evidence.append(f"_milestones={short(raw)} is not a list of integers.")
            milestones = None
        children = self.children(state, evidence) or ()
        if milestones is not None and children and len(milestones) != len(children) - 1:
            evidence.append(f"{len(milestones)} milestones for {len(children)} members (torch needs one fewer).")
            milestones = None
        params = {"milestones": tuple(milestones) if milestones is not None else None}
        return match_from(state, self.name, self.name, params, evidence, children=children)

    def build(self, groups: Groups, match: FamilyMatch, context: Context | None) -> SimSequential:
        if match.params.get("milestones") is None:
            raise ValueError(f"{self.name}: unusable _milestones")
        return SimSequential(groups, self.built_members(groups, match, context), match.params["milestones"])

    def stored(self, match: FamilyMatch) -> dict[str, Any]:
        return {"last_epoch": match.position, "last_lr": match.last_lr, "members": self.member_states(match)}

    def fields(self, match: FamilyMatch, sim: Any) -> dict[str, Any]:
        return {"last_epoch": sim.last_epoch, **super().fields(match, sim)}

    def state_at(self, match: FamilyMatch, position: int, context: Context | None = None) -> dict[str, Any]:
        try:
            return self.fields(match, self.fresh(match, position, context))
        except NeedsConfig:
            return {"last_epoch": position}


class ChainedFamily(_Composite):
    name = "ChainedScheduler"
    torch_classes = ("ChainedScheduler",)
    position_keys = ("_schedulers[i].last_epoch", "_schedulers[i]._step_count")
    saved = ("_schedulers",)
    source = f"{_TORCH}:1478-1581"
    note = "keeps no position of its own: the members' last_epoch (equal when they were built together) is it"

    def recognise(self, state: Mapping[str, Any]) -> FamilyMatch | None:
        if "_schedulers" not in state or "_milestones" in state:
            return None
        evidence = ["has _schedulers without _milestones: torch ChainedScheduler."]
        children = self.children(state, evidence) or ()
        positions = {c.position for c in children}
        position = positions.pop() if len(positions) == 1 else None
        if len(children) and position is None:
            evidence.append(f"the members' last_epoch differ ({sorted(map(str, {c.position for c in children}))}): "
                            "no common position.")
        return match_from(state, self.name, self.name, {}, evidence, children=children, position=position)

    def build(self, groups: Groups, match: FamilyMatch, context: Context | None) -> SimChained:
        return SimChained(groups, self.built_members(groups, match, context))

    def fresh(self, match: FamilyMatch, position: int, context: Context | None) -> Any:
        if position < 0:
            raise ValueError(f"{self.name}: position {position} is before the first step (0)")
        sim = self.build(self.groups(match, context), match, context)
        for _ in range(position):  # the members start at 0, the chain steps them together
            sim.step()
        return sim

    def stored(self, match: FamilyMatch) -> dict[str, Any]:
        return {"last_lr": match.last_lr, "members": self.member_states(match)}

    def _loaded(self, match: FamilyMatch, lrs: Sequence[float] | None, set_last_epoch: int | None,
                context: Context | None) -> Any:
        """As ``SimulatedFamily._loaded``, with no position of its own: the members load theirs. (The shared
        ``advance``/``advance_many`` then replay once for a whole trajectory, not once per step.)"""
        if set_last_epoch is not None:
            raise ValueError(f"{self.name} has no last_epoch of its own to set")
        current = current_lrs(self.name, match, lrs)
        sim = self.build(self.groups(match, context), match, context)
        sim.load(self.stored(match))
        sim.groups.set("lr", current)
        return sim

    def state_at(self, match: FamilyMatch, position: int, context: Context | None = None) -> dict[str, Any]:
        try:
            return self.fields(match, self.fresh(match, position, context))
        except NeedsConfig:
            return {}
