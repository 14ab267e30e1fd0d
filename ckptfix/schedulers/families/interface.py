"""What every scheduler family offers: recognise a decoded state, and the LRs it holds at a position.

A *family* is one scheduler class (or a few whose states cannot be told apart) as its ``state_dict()``
arrives from ckptfix's decoder: plain dicts, lists, ints, floats (``lr_lambdas: [None]`` or ``[{}]``,
nested ``_schedulers`` for ``SequentialLR``/``ChainedScheduler``, a ``Counter`` for ``MultiStepLR``).
Everything here is pure math on ints and floats (no torch, no numpy).

The LRs are the ones torch's own stepping gives. Most torch schedulers are *chainable*: ``step()``
multiplies the optimizer's current LR by a ratio that depends on ``last_epoch``, so after a
``last_epoch`` set from outside (a resume that rewrites the position) the LR is no longer the closed
form at the new position. :meth:`Family.lrs_at` answers "what does a fresh run hold at ``position``",
:meth:`Family.advance` "what does torch hold after loading this state, setting ``last_epoch``, and
stepping ``k`` times".
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ckptfix.records import Record

from ..formulas import lr_matches

__all__ = [
    "ABS_TOL",
    "FAR_REL_TOL",
    "REL_TOL",
    "Context",
    "Family",
    "FamilyMatch",
    "NeedsConfig",
    "current_lrs",
    "lrs_agree",
]

#: torch's built-ins store untruncated floats: a stored LR agrees with a computed one within this relative
#: error (plus ``ABS_TOL``). ckptfix's replay of torch's stepping is bit-identical (error 0).
REL_TOL = 1e-9
#: The tolerance ``Family.tolerance`` gives where the LRs come from a closed form instead of the replay of a
#: chainable scheduler's recursion (positions beyond ``simulated.EXACT_STEPS``). Measured worst difference over
#: 1,000,000 steps of CosineAnnealingLR (the worst class): 7.5e-10 of the base LR, 7.5e-8 of the LR near
#: ``eta_min`` (tests/schedulers/test_chainable.py; docs/formulas.md).
FAR_REL_TOL = 1e-6
#: LRs below this are zero for any optimizer: float noise around an LR of 0 (a finished linear decay).
ABS_TOL = 1e-15


def lrs_agree(stored: Sequence[Any] | None, expected: Sequence[float] | None, truncated: bool = False,
              rel_tol: float = REL_TOL) -> bool:
    """Whether every stored LR is the computed one: within one truncation step for SimpleTuner's own classes,
    which store ``floor(lr*1e9)/1e9`` (``formulas.lr_matches``: the CLI contract's rule), within ``rel_tol``
    (``Family.tolerance``) for torch's untruncated values. Lengths must agree; non-numbers never agree."""
    if stored is None or expected is None or len(stored) != len(expected) or not len(stored):
        return False
    for s, e in zip(stored, expected):
        if truncated:
            if not lr_matches(s, e):
                return False
            continue
        if not (isinstance(s, numbers.Real) and not isinstance(s, bool) and isinstance(e, numbers.Real)):
            return False
        s, e = float(s), float(e)
        if not (math.isfinite(s) and math.isfinite(e)):
            return False
        if abs(s - e) > rel_tol * max(abs(s), abs(e)) + ABS_TOL:
            return False
    return True


class NeedsConfig(ValueError):
    """The LRs cannot be computed from the saved state alone: ``needs`` says what must come from elsewhere
    (the run's configuration, the optimizer's param groups), ``why`` the reason."""

    def __init__(self, family: str, needs: Sequence[str], why: str) -> None:
        self.family = family
        self.needs = tuple(needs)
        self.why = why
        super().__init__(f"{family}: {why} (needs {', '.join(self.needs)})")


class Context(Record):
    """What a family may need beside the saved state.

    ``lr_lambda``: the LambdaLR multiplier ``factor(last_epoch)`` from the run's configuration (e.g.
    ``schedules.Schedule.factor``): torch does not save a lambda. ``optimizer_groups``: the optimizer's
    param groups as decoded from ``optimizer.bin`` (OneCycleLR reads their ``max_lr`` and ``min_lr``)."""

    lr_lambda: Callable[[int], float] | None = None
    optimizer_groups: Sequence[Mapping[str, Any]] | None = None


class FamilyMatch(Record):
    """A state recognised as one family's, with the values its math reads, coerced.

    ``position`` is the stored ``last_epoch`` (None for a state that keeps none: ``ChainedScheduler``);
    ``params`` the family's own saved parameters; ``children`` the matches of a composite's
    ``_schedulers``; ``also`` the other families whose states have the same keys (a LambdaLR state is
    also a MultiplicativeLR state: only the run's configuration tells them apart)."""

    family: str
    torch_class: str
    position: int | None
    step_count: int | None
    base_lrs: tuple[float, ...] | None
    last_lr: tuple[float, ...] | None
    params: Mapping[str, Any]
    children: tuple[FamilyMatch, ...] = ()
    evidence: tuple[str, ...] = ()
    also: tuple[str, ...] = ()
    truncated: bool = False


def current_lrs(name: str, match: FamilyMatch, lrs: Sequence[float] | None) -> list[float]:
    """The LRs a loaded scheduler continues from: the optimizer's ``lrs`` when given, else the state's
    ``_last_lr``; ``NeedsConfig`` when neither is known."""
    current = list(lrs) if lrs is not None else (list(match.last_lr) if match.last_lr else None)
    if current is None:
        raise NeedsConfig(name, ("_last_lr or the optimizer's lr",), "no current LR to continue from")
    return current


class Family(ABC):
    """One scheduler family. Subclasses set the class attributes and implement ``recognise`` and
    ``lrs_at``; chainable ones also ``advance``."""

    #: the registry name (torch's class name for torch's built-ins)
    name: str = ""
    #: the class(es) whose ``state_dict()`` this family reads
    torch_classes: tuple[str, ...] = ()
    #: the state keys that hold the position, which a position rewrite changes (``_last_lr`` besides)
    position_keys: tuple[str, ...] = ("last_epoch", "_step_count")
    #: the saved parameters the math reads
    saved: tuple[str, ...] = ()
    #: what the LRs need from the run's configuration (not saved in the state)
    from_config: tuple[str, ...] = ()
    #: what the LRs need from the optimizer's param groups (``optimizer.bin``)
    from_optimizer: tuple[str, ...] = ()
    #: False for a scheduler driven by a metric, not by a step count (ReduceLROnPlateau)
    has_position: bool = True
    #: the stored LRs are ``floor(lr*1e9)/1e9`` (SimpleTuner's own classes)
    truncated: bool = False
    #: where the math comes from (file:line and version)
    source: str = ""
    #: anything a user of the family must know (no position, lambda not saved, ...)
    note: str = ""

    @abstractmethod
    def recognise(self, state: Mapping[str, Any]) -> FamilyMatch | None:
        """The match when ``state`` has this family's keys, else None. Never raises."""

    @abstractmethod
    def lrs_at(self, match: FamilyMatch, position: int, context: Context | None = None) -> list[float]:
        """The LRs (one per param group) a fresh scheduler with ``match``'s parameters holds at
        ``last_epoch = position``, as torch's stepping gives them. ``NeedsConfig`` when something unsaved is
        needed; ``ValueError`` for a position the class cannot reach (OneCycleLR past ``total_steps``)."""

    def tolerance(self, position: int) -> float:
        """The ``rel_tol`` for ``lrs_agree`` of ``lrs_at(..., position)`` against a stored LR: ``REL_TOL`` where
        the LRs are torch's exactly, ``FAR_REL_TOL`` where they come from a closed form."""
        return REL_TOL

    def advance(self, match: FamilyMatch, lrs: Sequence[float] | None = None, set_last_epoch: int | None = None,
                steps: int = 0, context: Context | None = None) -> list[float]:
        """The LRs torch holds after loading the state ``match`` describes (the optimizer's LRs ``lrs``,
        ``match.last_lr`` when None), setting ``last_epoch = set_last_epoch`` from outside (None: keep it),
        then calling ``step()`` ``steps`` times. For a family whose LR is a function of the position alone
        this is ``lrs_at`` of the final position."""
        start = match.position if set_last_epoch is None else set_last_epoch
        if start is None:
            raise NeedsConfig(self.name, ("last_epoch",), "the state keeps no position")
        if steps == 0:  # setting last_epoch changes no LR until the next step
            return current_lrs(self.name, match, lrs)
        return self.lrs_at(match, start + steps, context)

    def lrs_many(self, match: FamilyMatch, positions: Sequence[int], context: Context | None = None
                 ) -> list[list[float]]:
        """``lrs_at`` at each of ``positions`` (ascending): one replay for all of them where the family replays
        torch's stepping (``SimulatedFamily``), so a trajectory costs its last position, not the sum."""
        return [self.lrs_at(match, p, context) for p in positions]

    def advance_many(self, match: FamilyMatch, lrs: Sequence[float] | None = None, set_last_epoch: int | None = None,
                     steps: Sequence[int] = (), context: Context | None = None) -> list[list[float]]:
        """``advance`` for each number of ``steps`` (ascending), from one load of the state."""
        return [self.advance(match, lrs, set_last_epoch, k, context) for k in steps]

    def state_at(self, match: FamilyMatch, position: int, context: Context | None = None) -> dict[str, Any]:
        """The values of the position keys (and ``_last_lr`` when it can be computed) that a fresh
        scheduler with ``match``'s parameters holds at ``last_epoch = position``: what a position
        rewrite writes. Every other key of the state stays as it is."""
        out: dict[str, Any] = {"last_epoch": position}
        if "_step_count" in self.position_keys:
            out["_step_count"] = position + 1
        try:
            out["_last_lr"] = self.lrs_at(match, position, context)
        except NeedsConfig:
            pass
        return out
