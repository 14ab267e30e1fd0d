"""SimpleTuner's own scheduler classes (and ckptfix's fixed ``Sine``) as families, so that one registry knows
every state a trainer ckptfix models writes. The math is the sine profiles' (``profiles.py``, ``formulas.py``);
which layout a state has is ``detect.detect_profile``'s decision, reused here. These classes store their LRs
truncated (``floor(lr*1e9)/1e9``): compare with ``lrs_agree(..., truncated=True)``.

SimpleTuner's ``Cosine`` and ``CosineAnnealingHardRestarts`` set each group's LR inside ``with
_enable_get_lr_call(self)``, whose ``__exit__`` returns a true value and so swallows exceptions, and call
``self.print_lr(self.verbose, ...)`` there; they never set ``self.verbose``, which torch's ``LRScheduler`` stored
only up to 2.5. Under a newer torch (a state without a ``verbose`` key) the ``AttributeError`` stops the loop
after the first group: only param group 0 follows the schedule, the others keep their LR (measured with
SimpleTuner 3.1.6 and torch 2.13, tests/schedulers/test_simpletuner.py). ``params["first_group_only"]`` says so.

Their LR is a function of the position alone (``step()`` derives everything from ``last_epoch + 1``), so a
``last_epoch`` set from outside moves them along the formula (``Family.advance``). SimpleTuner 3.1.6 builds them
in ``get_lr_scheduler`` (``custom_schedule.py`` L467-542): ``sine`` -> ``Sine`` (v2 since 05a3c37), ``cosine`` ->
``Cosine``, ``cosine_with_restarts`` -> ``CosineAnnealingHardRestarts``, each with ``T_0 = lr_warmup_steps × N``,
``T_mult = 1``, ``eta_min = lr_end``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..detect import detect_profile
from ..formulas import check_int, cosine_lr, truncate_lr, v1_position
from ..profiles import PROFILES, SIMPLETUNER_COSINE, SIMPLETUNER_SINE_V1, SIMPLETUNER_SINE_V2, SINE
from ..reference import target_state
from .interface import Context, Family, FamilyMatch
from .state import match_from, param_int, param_real

__all__ = ["HARD_RESTARTS", "SIMPLETUNER_FAMILIES", "ProfileFamily", "first_group_only"]

_ST = "SimpleTuner 3.1.6 simpletuner/helpers/training/custom_schedule.py"


class ProfileFamily(Family):
    """One sine-family profile: recognised where ``detect_profile`` says the state's layout allows it."""

    truncated = True
    position_keys = ("last_epoch", "T_cur", "T_i", "_step_count")
    saved = ("T_0", "T_mult", "eta_min", "base_lrs")

    def __init__(self, profile: str, torch_class: str, source: str, note: str = "") -> None:
        self.name = profile
        self.profile = profile
        self.torch_classes = (torch_class,)
        self.source = source
        self.note = note

    def recognise(self, state: Mapping[str, Any]) -> FamilyMatch | None:
        pm = detect_profile(state)
        if not self.layout_fits(pm.scheduler_kind, state):
            return None
        evidence = [f"{pm.scheduler_kind} layout; detect_profile says {pm.profile} ({pm.basis})."]
        params = {"T_0": param_int(state, "T_0", evidence, 1),
                  "T_mult": param_int(state, "T_mult", evidence, 1) if "T_mult" in state else 1,
                  "eta_min": param_real(state, "eta_min", evidence),
                  "steps_per_epoch": param_int(state, "steps_per_epoch", evidence) if "steps_per_epoch" in state else -1,
                  "first_group_only": first_group_only(self.profile, state, evidence)}
        return match_from(state, self.name, self.torch_classes[0], params, evidence, truncated=True)

    def layout_fits(self, kind: str, state: Mapping[str, Any]) -> bool:
        """The layouts each class writes (``detect_profile``'s ``scheduler_kind`` from the keys): v2 keeps
        ``total_steps`` (or a frozen ``T_cur = -1``); the Cosine a float ``T_cur`` (``-last_epoch``); the fixed and
        the pre-fix sine an int ``T_cur >= 0`` (with ``steps_per_epoch``, or torch's CAWR keys after a repair)."""
        v2_layout = "total_steps" in state or state.get("T_cur") == -1
        cosine_layout = kind == "Cosine" or ("steps_per_epoch" in state and isinstance(state.get("T_cur"), float))
        if self.profile == SIMPLETUNER_SINE_V2:
            return kind == "Sine" and v2_layout
        if self.profile == SIMPLETUNER_COSINE:
            return cosine_layout
        return kind in ("Sine", "CosineAnnealingWarmRestarts") and not v2_layout and not cosine_layout

    def lrs_at(self, match: FamilyMatch, position: int, context: Context | None = None) -> list[float]:
        t0, tm, eta, spe = (match.params.get(k) for k in ("T_0", "T_mult", "eta_min", "steps_per_epoch"))
        if t0 is None or tm is None or eta is None or not match.base_lrs:
            raise ValueError(f"{self.name}: unusable T_0, T_mult, eta_min or base_lrs in the state")
        lrs = PROFILES[self.profile].expected_lrs(match.base_lrs, eta, position, t0, tm, spe if spe else -1)
        if match.params.get("first_group_only"):
            return lrs[:1] + list(match.base_lrs[1:])
        return lrs

    def state_at(self, match: FamilyMatch, position: int, context: Context | None = None) -> dict[str, Any]:
        t0, tm, eta = (match.params.get(k) for k in ("T_0", "T_mult", "eta_min"))
        if self.profile in (SINE, SIMPLETUNER_SINE_V2):
            s = target_state(self.profile, position, t0, tm, eta, match.base_lrs)
            out: dict[str, Any] = {"last_epoch": s.last_epoch, "T_cur": s.T_cur, "T_i": s.T_i, "_last_lr": s.last_lr}
            if s.total_steps is not None:
                out["total_steps"] = s.total_steps
            return out
        t_cur, t_i = (v1_position(position, t0, tm) if self.profile == SIMPLETUNER_SINE_V1
                      else (-float(position), t0))
        return {"last_epoch": position, "T_cur": t_cur, "T_i": t_i, "_last_lr": self.lrs_at(match, position, context)}


def first_group_only(profile: str, state: Mapping[str, Any], evidence: list[str]) -> bool:
    """Whether only param group 0 follows the schedule (SimpleTuner's Cosine/HardRestarts without ``verbose``)."""
    if profile not in (SIMPLETUNER_COSINE, HARD_RESTARTS_NAME) or "verbose" in state:
        return False
    if len(state.get("base_lrs") or ()) > 1:
        evidence.append("no 'verbose' key (torch > 2.5): SimpleTuner's step() stops after param group 0 "
                        "(an AttributeError its _enable_get_lr_call swallows); the other groups keep their LR.")
    return True


HARD_RESTARTS_NAME = "simpletuner-hard-restarts"


class _HardRestarts(Family):
    """SimpleTuner's ``CosineAnnealingHardRestarts`` (L283-386): its position is ``last_step`` (``last_epoch``
    stays where the constructor left it); ``T_cur = step % steps_per_epoch``, which with the default
    ``steps_per_epoch = -1`` is always 0, so the LR stays at ``base_lr``."""

    name = HARD_RESTARTS_NAME
    torch_classes = ("CosineAnnealingHardRestarts",)
    position_keys = ("last_step", "T_cur")
    saved = ("T_0", "T_mult", "eta_min", "steps_per_epoch", "base_lrs")
    truncated = True
    source = f"{_ST}:283-386"
    note = "with SimpleTuner's default steps_per_epoch = -1 the LR never leaves base_lr"

    def recognise(self, state: Mapping[str, Any]) -> FamilyMatch | None:
        if "last_step" not in state or "T_0" not in state:
            return None
        evidence = ["has 'last_step': SimpleTuner's CosineAnnealingHardRestarts."]
        params = {"T_0": param_int(state, "T_0", evidence, 1), "T_mult": param_int(state, "T_mult", evidence, 1),
                  "eta_min": param_real(state, "eta_min", evidence),
                  "steps_per_epoch": param_int(state, "steps_per_epoch", evidence),
                  "first_group_only": first_group_only(self.name, state, evidence)}
        return match_from(state, self.name, self.torch_classes[0], params, evidence, position="last_step",
                          truncated=True)

    def lrs_at(self, match: FamilyMatch, position: int, context: Context | None = None) -> list[float]:
        t0, tm, eta, spe = (match.params.get(k) for k in ("T_0", "T_mult", "eta_min", "steps_per_epoch"))
        if t0 is None or eta is None or not spe or not match.base_lrs:
            raise ValueError(f"{self.name}: unusable T_0, eta_min, steps_per_epoch or base_lrs in the state")
        if tm != 1:
            raise ValueError(f"{self.name}: T_mult {tm}: T_i grows with the history, not the position")
        t_cur = check_int("last_step", position, 0) % spe
        if t_cur >= t0:
            t_cur = 0
        lrs = [truncate_lr(cosine_lr(b, eta, t_cur, t0)) for b in match.base_lrs]
        return lrs[:1] + list(match.base_lrs[1:]) if match.params.get("first_group_only") else lrs

    def state_at(self, match: FamilyMatch, position: int, context: Context | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"last_step": position}
        try:
            out["_last_lr"] = self.lrs_at(match, position, context)
        except ValueError:
            pass
        return out


HARD_RESTARTS = _HardRestarts()
SIMPLETUNER_FAMILIES: tuple[Family, ...] = (
    ProfileFamily(SINE, "Sine", "ckptfix/schedulers/torch_sine.py (the fixed formula, SimpleTuner issue #954)",
                  "ckptfix's reference; T_cur/T_i from last_epoch as torch's CAWR steps them"),
    ProfileFamily(SIMPLETUNER_SINE_V1, "Sine", "bghira/SimpleTuner custom_schedule.py 2024-02-16..2024-09-09 (5d204a3)",
                  "the pre-fix sine: never below (base+eta_min)/2"),
    ProfileFamily(SIMPLETUNER_SINE_V2, "Sine", f"{_ST}:389-440 (since 05a3c37)",
                  "stock SimpleTuner's sine: 0.5(1+sin(pi·total_steps/T_0)), period 2·T_0"),
    ProfileFamily(SIMPLETUNER_COSINE, "Cosine", f"{_ST}:195-280", "T_cur = -last_epoch: one cosine of period 2·T_0"),
    HARD_RESTARTS,
)
