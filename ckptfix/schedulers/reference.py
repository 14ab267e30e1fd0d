"""The reference ``sine`` profile's state at a position: the one place that computes it.

Detection (what the fixed formula holds at the stored ``last_epoch``), the checks (at ``N × step``)
and ``repair`` (the values it writes) all ask this function. ``target_state`` does the same for every
profile ``--target`` accepts (``sine``, and ``simpletuner-sine-v2`` for users who keep stock SimpleTuner).
"""

from __future__ import annotations

from collections.abc import Sequence

from ckptfix.records import Record

from .formulas import simpletuner_sine_v2_lr, sine_lr, sine_position, truncate_lr
from .profiles import SIMPLETUNER_SINE_V2, SINE

__all__ = ["SINE_STATE_TEMPLATE", "TARGETS", "SineState", "TargetState", "sine_state", "sine_state_template", "target_state"]

#: The profiles ``--target`` accepts: what ``inspect`` checks against and ``repair`` writes.
TARGETS = (SINE, SIMPLETUNER_SINE_V2)

#: The keys, in order, of ``ckptfix.schedulers.Sine(optimizer, T_0=1).state_dict()`` under torch 2.13,
#: with what the class writes for the keys ckptfix does not own (``verbose``, ``steps_per_epoch``, torch's
#: ``_is_initial`` and ``_get_lr_called_within_step``). ``repair`` creates a missing ``scheduler.bin``
#: from it without importing torch; ``tests/schedulers/test_torch_sine.py`` checks it against the real
#: class under the installed torch. The owned values here are placeholders the plan always overwrites.
SINE_STATE_TEMPLATE: tuple[tuple[str, object], ...] = (
    ("T_0", 1), ("T_i", 1), ("T_mult", 1), ("T_cur", 0), ("eta_min", 0), ("steps_per_epoch", -1),
    ("verbose", False), ("base_lrs", None), ("last_epoch", 0), ("_step_count", 1), ("_is_initial", False),
    ("_get_lr_called_within_step", False), ("_last_lr", None),
)


class SineState(Record):
    """What the fixed ``sine`` scheduler holds after stepping fresh to ``last_epoch``."""

    last_epoch: int
    T_cur: int
    T_i: int
    #: Truncated (as the trainer stores it), per param group; None when no usable ``eta_min``/``base_lrs``.
    last_lr: list[float] | None


def sine_state(last_epoch: int, T_0: int, T_mult: int = 1, eta_min: float | None = None,
               base_lrs: Sequence[float] | None = None) -> SineState:
    """``(T_cur, T_i)`` by :func:`sine_position` and ``_last_lr`` by the fixed formula, truncated.

    ``ValueError`` for an unusable position (``T_0 < 1``, ``last_epoch < 0`` ...); ``last_lr`` is None
    when ``eta_min`` or ``base_lrs`` is missing or the LR overflows a float."""
    t_cur, t_i = sine_position(last_epoch, T_0, T_mult)
    lrs = None
    if eta_min is not None and base_lrs is not None:
        try:
            lrs = [truncate_lr(sine_lr(float(b), float(eta_min), t_cur, t_i)) for b in base_lrs]
        except OverflowError:
            lrs = None
    return SineState(last_epoch, t_cur, t_i, lrs)


def sine_state_template(n_groups: int) -> dict[str, object]:
    """A fresh dict laid out as the reference ``Sine``'s ``state_dict()`` with ``n_groups`` param groups
    (``base_lrs`` and ``_last_lr`` hold ``1.0`` per group, as on an optimizer built with ``lr=1.0``)."""
    groups = max(1, n_groups)
    return {k: [1.0] * groups if v is None else v for k, v in SINE_STATE_TEMPLATE}

class TargetState(Record):
    """What a target profile's scheduler holds after stepping fresh to ``last_epoch`` (the keys it owns)."""

    profile: str
    last_epoch: int
    T_cur: int
    T_i: int
    last_lr: list[float] | None
    total_steps: int | None = None  # v2 only: it keeps total_steps = last_epoch


def target_state(profile: str, last_epoch: int, T_0: int, T_mult: int = 1, eta_min: float | None = None,
                 base_lrs: Sequence[float] | None = None) -> TargetState:
    """The state of ``profile`` at ``last_epoch``: ``sine`` by :func:`sine_state`; SimpleTuner's v2 as its
    class writes it (``T_cur`` -1, ``T_i = T_0``, ``total_steps = last_epoch``, LR truncated; it ignores
    ``T_mult``). ``ValueError`` for another profile or an unusable position."""
    if profile == SINE:
        s = sine_state(last_epoch, T_0, T_mult, eta_min, base_lrs)
        return TargetState(SINE, s.last_epoch, s.T_cur, s.T_i, s.last_lr)
    if profile != SIMPLETUNER_SINE_V2:
        raise ValueError(f"no target state for profile {profile!r}; targets: {', '.join(TARGETS)}")
    if last_epoch < 0 or T_0 < 1:
        raise ValueError(f"unusable position: last_epoch {last_epoch}, T_0 {T_0}")
    lrs = None
    if eta_min is not None and base_lrs is not None:
        try:
            lrs = [truncate_lr(simpletuner_sine_v2_lr(float(b), float(eta_min), last_epoch, T_0)) for b in base_lrs]
        except OverflowError:
            lrs = None
    return TargetState(SIMPLETUNER_SINE_V2, last_epoch, -1, T_0, lrs, last_epoch)
