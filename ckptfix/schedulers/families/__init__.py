"""Scheduler families: recognise any torch LR scheduler's saved state and compute the LRs it holds at a
position, as torch's own stepping gives them (pure math: no torch, no numpy).

``FAMILIES`` lists every family, in the order ``recognise_all`` tries them; ``get_family`` finds one by name.
``schedules`` holds the LambdaLR lambdas of transformers' and diffusers' ``get_scheduler`` (and the trainers'
factories that call them), which a run's configuration names. The gate asks them for every scheduler state that
is not a sine state (``analysis/schedule_checks.py``: position checks, resume previews, repairs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .chainable import (
    CONSTANT_LR,
    COSINE_ANNEALING_LR,
    EXPONENTIAL_LR,
    LINEAR_LR,
    MULTI_STEP_LR,
    POLYNOMIAL_LR,
    STEP_LR,
)
from .composite import ChainedFamily, SequentialFamily
from .cyclic import CYCLIC_LR, ONE_CYCLE_LR
from .interface import ABS_TOL, FAR_REL_TOL, REL_TOL, Context, Family, FamilyMatch, NeedsConfig, lrs_agree
from .lambda_lr import LAMBDA_LR, MULTIPLICATIVE_LR
from .plateau import REDUCE_LR_ON_PLATEAU
from .restarts import WARM_RESTARTS
from .simpletuner import SIMPLETUNER_FAMILIES

__all__ = [
    "ABS_TOL",
    "FAMILIES",
    "FAR_REL_TOL",
    "REL_TOL",
    "Context",
    "Family",
    "FamilyMatch",
    "NeedsConfig",
    "get_family",
    "lrs_agree",
    "recognise",
    "recognise_all",
]

#: the families a member of a SequentialLR / ChainedScheduler may be (torch refuses ReduceLROnPlateau there)
_LEAVES: tuple[Family, ...] = (
    LAMBDA_LR, MULTIPLICATIVE_LR, STEP_LR, MULTI_STEP_LR, CONSTANT_LR, LINEAR_LR, EXPONENTIAL_LR, POLYNOMIAL_LR,
    COSINE_ANNEALING_LR, WARM_RESTARTS, CYCLIC_LR, ONE_CYCLE_LR,
)
#: torch's built-ins, then SimpleTuner's own classes and ckptfix's fixed sine (named by profile)
FAMILIES: tuple[Family, ...] = _LEAVES + (
    SequentialFamily(_LEAVES), ChainedFamily(_LEAVES), REDUCE_LR_ON_PLATEAU,
) + SIMPLETUNER_FAMILIES
_BY_NAME = {f.name: f for f in FAMILIES}


def get_family(name: str) -> Family:
    """The family called ``name`` (torch's class name, or a sine profile's name); ``KeyError`` otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown scheduler family {name!r}; expected one of {', '.join(_BY_NAME)}") from None


def recognise_all(state: Any) -> list[FamilyMatch]:
    """Every family whose state ``state`` can be (a LambdaLR state is also a MultiplicativeLR one), in
    ``FAMILIES`` order; empty for anything else. Never raises."""
    if not isinstance(state, Mapping):
        return []
    if not all(isinstance(k, str) for k in state):
        state = {k: v for k, v in state.items() if isinstance(k, str)}
    out = []
    for family in FAMILIES:
        try:
            m = family.recognise(state)
        except Exception:  # pragma: no cover - defensive: odd input must never crash a report
            m = None
        if m is not None:
            out.append(m)
    return out


def recognise(state: Any) -> FamilyMatch | None:
    """The first family ``recognise_all`` finds (its ``also`` names the others that fit), or None."""
    found = recognise_all(state)
    return found[0] if found else None
