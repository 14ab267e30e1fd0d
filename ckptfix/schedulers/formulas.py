"""Pure learning-rate formulas for the sine-family schedulers (no torch, no numpy).

Everything here is plain ``math`` on Python ints/floats so the read path can check a
``scheduler.bin`` without importing torch.

Profiles (``factor`` in ``lr = eta_min + (base_lr - eta_min) * factor``):

``sine`` (ckptfix's reference, the fix described in SimpleTuner issue #954)
    ``factor = 0.5 + 0.5*cos(2*pi*T_cur/T_i)``; ``(T_cur, T_i)`` from ``last_epoch`` exactly as
    torch's ``CosineAnnealingWarmRestarts`` steps them (see :func:`sine_position`).
    Note: the issue's own *sine* snippet is ``0.5 + 0.5*cos(pi + 2*pi*T_cur/T_i)``, which starts at
    ``eta_min``; ckptfix's reference is the snippet labelled *cosine* there (starts at ``base_lr``).
``simpletuner-sine-v1`` (bghira/SimpleTuner ``helpers/training/custom_schedule.py`` up to 05a3c37)
    ``eta_min + (base_lr - eta_min) * (1 - cos(pi/2 + pi*T_cur/T_i)) / 2`` = ``(1 + sin(pi*T_cur/T_i))/2``:
    never below ``(base_lr + eta_min)/2`` and *starts at that midpoint*, not at ``base_lr``.
    Position: ``T_cur = step % T_i`` computed with the old ``T_i``; ``T_i *= T_mult`` afterwards
    when ``step`` is a non-zero multiple of ``T_i`` (see :func:`v1_position`).
``simpletuner-sine-v2`` (05a3c37 .. today)
    ``eta_min + (base_lr - eta_min) * (0.5 * (1 + sin(pi*total_steps/T_0)))`` with
    ``total_steps = last_epoch``; ``T_cur``/``T_i`` unused; period ``2*T_0``; also starts at the midpoint.
``simpletuner-cosine`` (SimpleTuner's ``Cosine``)
    ``eta_min + (base_lr - eta_min) * (1 + cos(pi*T_cur/T_i)) / 2`` with
    ``T_cur = step//spe + (step%spe)/spe``; with the default ``steps_per_epoch = -1`` that is
    ``-last_epoch`` (a float) and the restart branch never fires: period ``2*T_0``.

The expressions keep SimpleTuner's operation order so results are bit-identical to the trainer's.
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import Any

__all__ = [
    "LR_QUANTUM",
    "check_int",
    "sine_position",
    "v1_position",
    "cosine_position",
    "sine_lr",
    "simpletuner_sine_v1_lr",
    "simpletuner_sine_v2_lr",
    "cosine_lr",
    "simpletuner_cosine_lr",
    "truncate_lr",
    "lr_matches",
    "sine_step_count",
]

#: The trainer keeps LRs as ``floor(lr * 1e9) / 1e9``: one truncation step.
LR_QUANTUM = 1e-9


def check_int(name: str, value: Any, minimum: int | None = None) -> int:
    """Return ``value`` as an exact ``int`` (>= ``minimum`` if given); ``ValueError`` otherwise.

    Accepts anything implementing ``__index__`` (numpy/torch integer scalars) but not ``bool``
    and not floats, even integral ones: a float position is a sign of a foreign state.
    """
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an int, got bool {value!r}")
    try:
        ivalue = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an int, got {type(value).__name__} {value!r}") from None
    if minimum is not None and ivalue < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {ivalue}")
    return ivalue


def sine_position(last_epoch: int, T_0: int, T_mult: int) -> tuple[int, int]:
    """Return ``(T_cur, T_i)`` after ``last_epoch + 1`` steps from a fresh scheduler.

    Same position as torch ``CosineAnnealingWarmRestarts`` reaches by stepping one at a time, in
    closed form and exact integer arithmetic (torch's own ``step(epoch)`` path uses a float
    ``log`` that is wrong at exact restart boundaries).

    For ``T_mult = m > 1`` the cycle ``n`` starts at ``S(n) = T_0*(m**n - 1)/(m - 1)``; ``S(n) <= e``
    is equivalent to ``m**n <= e*(m - 1)//T_0 + 1`` because ``m**n`` is an integer.
    """
    e = check_int("last_epoch", last_epoch, 0)
    t0 = check_int("T_0", T_0, 1)
    m = check_int("T_mult", T_mult, 1)
    if m == 1:
        return e % t0, t0
    k = e * (m - 1) // t0 + 1
    if m == 2:
        power = 1 << (k.bit_length() - 1)
    else:
        power = 1
        while power * m <= k:
            power *= m
    start = t0 * (power - 1) // (m - 1)
    return e - start, t0 * power


def v1_position(last_epoch: int, T_0: int, T_mult: int) -> tuple[int, int]:
    """``(T_cur, T_i)`` that SimpleTuner's pre-fix ``Sine`` holds after stepping fresh to ``last_epoch``.

    Its ``step`` sets ``T_cur = step % T_i`` and *then* multiplies ``T_i`` when ``step`` is a non-zero
    multiple of it, so with ``T_mult = m > 1`` the boundaries are at ``T_0*m**k`` and, between
    them, ``T_cur = step`` (not the offset into the cycle). SimpleTuner always used ``T_mult = 1``.
    """
    e = check_int("last_epoch", last_epoch, 0)
    t0 = check_int("T_0", T_0, 1)
    m = check_int("T_mult", T_mult, 1)
    if m == 1:
        return e % t0, t0
    if e < t0:
        return e, t0
    # Largest k >= 1 with T_0*m**k <= e: T_i has been multiplied k times.
    boundary = t0
    while boundary * m <= e:
        boundary *= m
    t_i = boundary * m
    return (0 if e == boundary else e), t_i


def cosine_position(last_epoch: int, T_0: int, steps_per_epoch: int = -1) -> tuple[float, int]:
    """``(T_cur, T_i)`` of SimpleTuner's ``Cosine`` (``T_mult = 1``) after stepping to ``last_epoch``.

    ``T_cur = step//spe + (step%spe)/spe`` (a float); the restart branch only fires when
    ``T_cur >= T_i``, never with the default ``spe = -1`` where ``T_cur = -step``.
    """
    e = check_int("last_epoch", last_epoch, 0)
    t0 = check_int("T_0", T_0, 1)
    spe = check_int("steps_per_epoch", steps_per_epoch)
    if spe == 0:
        raise ValueError("steps_per_epoch must be non-zero")
    t_cur = (e // spe) + (e % spe) / spe
    if t_cur >= t0:
        t_cur -= t0
    return t_cur, t0


def sine_lr(base_lr: float, eta_min: float, T_cur: int, T_i: int) -> float:
    """ckptfix's reference ``sine``: ``base_lr`` at ``T_cur = 0``, ``eta_min`` at ``T_i/2`` (untruncated)."""
    return eta_min + (base_lr - eta_min) * (0.5 + 0.5 * math.cos(2 * math.pi * T_cur / T_i))


def simpletuner_sine_v1_lr(base_lr: float, eta_min: float, T_cur: int, T_i: int) -> float:
    """SimpleTuner ``Sine`` before 05a3c37 (untruncated); its floor is ``(base_lr + eta_min)/2``."""
    return eta_min + (base_lr - eta_min) * (1 - math.cos(math.pi / 2 + math.pi * T_cur / T_i)) / 2


def simpletuner_sine_v2_lr(base_lr: float, eta_min: float, total_steps: int, T_0: int) -> float:
    """SimpleTuner ``Sine`` since 05a3c37 (untruncated): a continuous sine of period ``2*T_0``."""
    return eta_min + (base_lr - eta_min) * (0.5 * (1 + math.sin(math.pi * total_steps / T_0)))


def cosine_lr(base_lr: float, eta_min: float, T_cur: float, T_i: int) -> float:
    """The cosine annealing expression, untruncated: torch ``CosineAnnealingWarmRestarts.get_lr`` (torch 2.13
    ``lr_scheduler.py`` L2170) and SimpleTuner's ``Cosine`` compute exactly this."""
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * T_cur / T_i)) / 2


def simpletuner_cosine_lr(base_lr: float, eta_min: float, T_cur: float, T_i: int) -> float:
    """SimpleTuner ``Cosine`` (untruncated); ``T_cur`` is ``-last_epoch`` in practice."""
    return cosine_lr(base_lr, eta_min, T_cur, T_i)


def truncate_lr(lr: float) -> float:
    """``floor(lr * 1e9) / 1e9``, exactly the trainer's expression (including its float rounding)."""
    return math.floor(lr * 1e9) / 1e9


def lr_matches(stored: float, expected: float) -> bool:
    """Whether a stored (truncated) LR is the trainer's value for an untruncated ``expected`` LR.

    Only real numbers compare (a string or bool never matches). True when ``stored`` is within one
    truncation step (1e-9) of ``truncate_lr(expected)``, plus a few ulps for the float error of
    ``floor(x*1e9)/1e9`` itself. Non-finite values never match. The v1/v2 differences from ``sine``
    are orders of magnitude larger than this tolerance for any LR a trainer would use (>= 1e-7).
    """
    if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in (stored, expected)):
        return False
    try:
        s = float(stored)
        t = truncate_lr(float(expected))
    except (TypeError, ValueError, OverflowError):
        return False
    if not (math.isfinite(s) and math.isfinite(t)):
        return False
    slack = 4 * math.ulp(max(abs(s), abs(t), LR_QUANTUM))
    return abs(s - t) <= LR_QUANTUM + slack


def sine_step_count(last_epoch: int) -> int:
    """``_step_count`` the reference ``Sine`` holds after stepping fresh to ``last_epoch`` (torch semantics).

    torch's ``_initial_step`` sets 0 and then steps once, so it is ``last_epoch + 1``. accelerate may
    add more (gradient-accumulation ``adjust_scheduler``), which is why a stored value wins.
    """
    return check_int("last_epoch", last_epoch, -1) + 1
