"""Registry of the LR-scheduler profiles ckptfix can recognise (pure, no torch).

Each profile maps a scheduler state position to an LR in two steps, so the analysis layer can
iterate over candidates uniformly::

    pos, period = profile.position(last_epoch, T_0, T_mult, steps_per_epoch)
    lr = truncate_lr(profile.lr(base_lr, eta_min, pos, period))

or simply ``profile.expected_lrs(...)``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from types import MappingProxyType
from typing import Mapping

from ckptfix.records import Record

from .formulas import (
    check_int,
    cosine_position,
    simpletuner_cosine_lr,
    simpletuner_sine_v1_lr,
    simpletuner_sine_v2_lr,
    sine_lr,
    sine_position,
    truncate_lr,
    v1_position,
)

__all__ = [
    "SINE",
    "SIMPLETUNER_SINE_V1",
    "SIMPLETUNER_SINE_V2",
    "SIMPLETUNER_COSINE",
    "UNCHECKED",
    "SINE_FAMILY",
    "PROFILE_NAMES",
    "PROFILES",
    "Position",
    "Profile",
    "get_profile",
]

SINE = "sine"
SIMPLETUNER_SINE_V1 = "simpletuner-sine-v1"
SIMPLETUNER_SINE_V2 = "simpletuner-sine-v2"
SIMPLETUNER_COSINE = "simpletuner-cosine"
#: Reported when no profile can be checked (LambdaLR, unknown classes, unreadable state).
UNCHECKED = "unchecked"
#: The sine profiles: states ckptfix checks in full and ``repair`` rewrites to ``sine``.
SINE_FAMILY = (SINE, SIMPLETUNER_SINE_V1, SIMPLETUNER_SINE_V2)


class Position(str, enum.Enum):
    """Where a profile's position comes from."""

    #: ``(T_cur, T_i)`` = :func:`sine_position` of ``last_epoch`` (torch SGDR restarts).
    SGDR = "sgdr"
    #: ``(T_cur, T_i)`` = :func:`v1_position` of ``last_epoch`` (``step % T_i`` with late ``T_i`` growth).
    V1_MODULO = "v1-modulo"
    #: ``(total_steps, T_0)``, ``total_steps = last_epoch``; ``T_cur``/``T_i`` unused.
    TOTAL_STEPS = "total-steps"
    #: ``(T_cur, T_0)`` = :func:`cosine_position` (``-last_epoch`` with ``steps_per_epoch = -1``).
    STEPS_PER_EPOCH = "steps-per-epoch"


PositionFn = Callable[[int, int, int, int], tuple[float, int]]
LrFn = Callable[[float, float, float, int], float]


class Profile(Record):
    """One LR formula plus the way its position is derived from the scheduler state.

    ``position(last_epoch, T_0, T_mult, steps_per_epoch) -> (pos, period)`` and
    ``lr(base_lr, eta_min, pos, period) -> float`` (untruncated; the trainer truncates).
    """

    name: str
    description: str
    position_kind: Position
    position: PositionFn
    lr: LrFn

    def expected_lrs(
        self,
        base_lrs: Sequence[float],
        eta_min: float,
        last_epoch: int,
        T_0: int,
        T_mult: int = 1,
        steps_per_epoch: int = -1,
    ) -> list[float]:
        """Truncated LRs (as stored in ``_last_lr``) this profile writes at ``last_epoch``."""
        pos, period = self.position(last_epoch, T_0, T_mult, steps_per_epoch)
        return [truncate_lr(self.lr(float(b), float(eta_min), pos, period)) for b in base_lrs]


def _sgdr(e: int, t0: int, tm: int, _spe: int) -> tuple[float, int]:
    return sine_position(e, t0, tm)


def _v1(e: int, t0: int, tm: int, _spe: int) -> tuple[float, int]:
    return v1_position(e, t0, tm)


def _total_steps(e: int, t0: int, _tm: int, _spe: int) -> tuple[float, int]:
    return check_int("last_epoch", e, 0), check_int("T_0", t0, 1)


def _spe(e: int, t0: int, _tm: int, spe: int) -> tuple[float, int]:
    return cosine_position(e, t0, spe)


_ALL = (
    Profile(
        SINE,
        "fixed sine (ckptfix reference): base_lr at each restart, eta_min mid-cycle, torch SGDR position",
        Position.SGDR,
        _sgdr,
        sine_lr,
    ),
    Profile(
        SIMPLETUNER_SINE_V1,
        "SimpleTuner Sine before 05a3c37: (1+sin(pi*T_cur/T_i))/2, never below (base_lr+eta_min)/2",
        Position.V1_MODULO,
        _v1,
        simpletuner_sine_v1_lr,
    ),
    Profile(
        SIMPLETUNER_SINE_V2,
        "SimpleTuner Sine since 05a3c37: 0.5*(1+sin(pi*total_steps/T_0)), period 2*T_0",
        Position.TOTAL_STEPS,
        _total_steps,
        simpletuner_sine_v2_lr,
    ),
    Profile(
        SIMPLETUNER_COSINE,
        "SimpleTuner Cosine: (1+cos(pi*T_cur/T_i))/2 with T_cur=-last_epoch, period 2*T_0",
        Position.STEPS_PER_EPOCH,
        _spe,
        simpletuner_cosine_lr,
    ),
)

#: Read-only name -> profile map, in preference order (used to break LR ties).
PROFILES: Mapping[str, Profile] = MappingProxyType({p.name: p for p in _ALL})
PROFILE_NAMES: tuple[str, ...] = tuple(PROFILES)


def get_profile(name: str) -> Profile:
    """The profile called ``name``; ``KeyError`` listing the valid names otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; expected one of {', '.join(PROFILE_NAMES)}") from None
