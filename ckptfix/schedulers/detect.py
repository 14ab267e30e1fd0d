"""Tell which formula wrote a decoded ``scheduler.bin`` state (pure, never raises).

Keys give a hint (``total_steps`` -> SimpleTuner v2, ``lr_lambdas`` -> LambdaLR, ...); the decisive
test is whether the stored ``_last_lr`` equals, per :func:`lr_matches`, what each candidate formula
writes at the position stored in the state. Checking the position itself against the training step
(``N x g``) is the analysis layer's job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ckptfix.coerce import as_int, as_real, as_reals
from ckptfix.records import Record

from .formulas import cosine_lr, lr_matches, sine_position, truncate_lr
from .profiles import (
    PROFILE_NAMES,
    PROFILES,
    SIMPLETUNER_COSINE,
    SIMPLETUNER_SINE_V1,
    SIMPLETUNER_SINE_V2,
    SINE,
    UNCHECKED,
)
from .reference import sine_state

__all__ = ["CandidateMatch", "SineExpectation", "ProfileMatch", "Basis", "detect_profile"]

#: How the profile was decided: LR match agreeing with the keys, LR match alone, keys alone
#: (``_last_lr`` not checkable or matching nothing), closest LR (nothing matched, keys ambiguous), none.
Basis = Literal["lr+keys", "lr", "keys", "nearest", "none"]


class CandidateMatch(Record):
    """How one profile fares against the stored ``_last_lr``."""

    profile: str
    #: False when the inputs this profile needs are missing or unusable (then ``matches`` is False).
    checked: bool
    matches: bool
    #: e.g. ``"T_cur=25, T_i=100"`` or ``"total_steps=137, T_0=100"``; ``""`` if not checked.
    position: str = ""
    #: Truncated LRs this profile writes at that position.
    expected_lr: list[float] | None = None
    #: ``max |stored - expected|`` over param groups (``inf`` if a stored value is not a finite number).
    max_abs_diff: float | None = None
    reason: str = ""


class SineExpectation(Record):
    """What the reference ``sine`` holds at the stored ``last_epoch``."""

    last_epoch: int
    T_cur: int
    T_i: int
    #: Truncated, per param group; ``None`` when ``base_lrs``/``eta_min`` are unusable.
    last_lr: list[float] | None
    #: Stored ``_step_count`` if it is an int, else what the reference class holds (``last_epoch + 1``).
    step_count: int


class ProfileMatch(Record):
    """Result of :func:`detect_profile`.

    ``profile`` is a name from ``PROFILE_NAMES`` or ``"unchecked"``; ``scheduler_kind`` the class
    the state looks like (``Sine``, ``Cosine``, ``LambdaLR``, ``CosineAnnealingHardRestarts``,
    ``CosineAnnealingWarmRestarts``, ``unknown``); ``expected`` what the reference ``sine`` holds at
    the stored ``last_epoch``; ``candidates`` one entry per profile, in ``PROFILE_NAMES`` order.
    """

    profile: str
    scheduler_kind: str
    evidence: list[str]
    expected: SineExpectation | None
    candidates: Sequence[CandidateMatch] = ()
    #: The stored ``_last_lr`` matches ``profile``'s formula at the stored position.
    lr_consistent: bool = False
    basis: Basis = "none"
    #: Other formulas (scheduler classes) the state fits as well as ``profile``: keys alike and the stored LR theirs
    #: at the stored position too (torch's ``CosineAnnealingWarmRestarts`` and the fixed sine at a restart).
    also_fits: tuple[str, ...] = ()

    @property
    def matched_profiles(self) -> list[str]:
        return [c.profile for c in self.candidates if c.matches]


# --- tolerant value extraction -------------------------------------------------------------


def _fmt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Inputs(Record):
    """The scheduler-state values detection works from, coerced."""

    last_epoch: int | None
    T_0: int | None
    T_mult: int | None
    steps_per_epoch: int
    total_steps: int | None
    eta_min: float | None
    base_lrs: list[float] | None
    last_lr: Any


def _inputs(state: Mapping[str, Any], evidence: list[str]) -> _Inputs:
    def integer(key: str, minimum: int) -> int | None:
        if key not in state:
            return None
        value = as_int(state[key])
        if value is None or value < minimum:
            evidence.append(f"{key}={_fmt(state[key])} is not an integer >= {minimum}.")
            return None
        if not isinstance(state[key], int):
            evidence.append(f"{key} is stored as a float ({state[key]!r}).")
        return value

    last_epoch = integer("last_epoch", -1)
    t0 = integer("T_0", 1)
    t_mult = integer("T_mult", 1) if "T_mult" in state else 1
    spe_raw = state.get("steps_per_epoch", -1)
    spe = as_int(spe_raw)
    if spe is None or spe == 0:
        evidence.append(f"steps_per_epoch={_fmt(spe_raw)} is unusable; assuming -1.")
        spe = -1
    total_steps = integer("total_steps", 0)
    eta_min = as_real(state.get("eta_min"))
    if "eta_min" in state and eta_min is None:
        evidence.append(f"eta_min={_fmt(state['eta_min'])} is not a finite number.")
    base_lrs = as_reals(state.get("base_lrs"))
    if "base_lrs" in state and base_lrs is None:
        evidence.append(f"base_lrs={_fmt(state['base_lrs'])} is not a non-empty list of finite numbers.")
    return _Inputs(last_epoch, t0, t_mult, spe, total_steps, eta_min, base_lrs, state.get("_last_lr"))


# --- key-based hints -------------------------------------------------------------------------


def _kind_and_hint(state: Mapping[str, Any]) -> tuple[str, frozenset[str], list[str]]:
    """Scheduler class guessed from keys, the profiles those keys allow, and why."""
    keys = set(state)
    why: list[str] = []
    if "lr_lambdas" in keys:
        return "LambdaLR", frozenset(), ["has 'lr_lambdas': a torch LambdaLR (polynomial/diffusers schedules)."]
    if not {"T_0", "last_epoch"} <= keys:
        missing = sorted({"T_0", "last_epoch"} - keys)
        return "unknown", frozenset(), [f"no {', '.join(missing)} key: not a sine/cosine scheduler state."]
    if "last_step" in keys:
        return "CosineAnnealingHardRestarts", frozenset(), [
            "has 'last_step': SimpleTuner's CosineAnnealingHardRestarts (LR does not follow a sine)."
        ]
    t_cur = state.get("T_cur")
    last_epoch = as_int(state.get("last_epoch"))
    if "total_steps" in keys:
        why.append("has 'total_steps': only SimpleTuner's sin-based Sine (v2, since 05a3c37) writes it.")
        if t_cur == -1:
            why.append("T_cur is -1, as v2 leaves it.")
        return "Sine", frozenset({SIMPLETUNER_SINE_V2}), why
    t_cur_num = as_real(t_cur)
    if "steps_per_epoch" in keys and t_cur_num is not None and last_epoch is not None and last_epoch > 0:
        if t_cur_num == -last_epoch or (isinstance(t_cur, float) and t_cur_num < 0):
            why.append("T_cur == -last_epoch with steps_per_epoch: SimpleTuner's Cosine.")
            return "Cosine", frozenset({SIMPLETUNER_COSINE}), why
    if t_cur == -1 and last_epoch is not None and last_epoch > 0:
        why.append("T_cur stays -1 while last_epoch advanced: v2's layout without 'total_steps'.")
        return "Sine", frozenset({SIMPLETUNER_SINE_V2}), why
    if "steps_per_epoch" in keys:
        why.append("T_0/T_i/T_cur/steps_per_epoch without 'total_steps': Sine layout (fixed or pre-fix v1 class).")
        return "Sine", frozenset({SINE, SIMPLETUNER_SINE_V1}), why
    if {"T_cur", "T_i"} <= keys:
        why.append("T_0/T_i/T_cur without steps_per_epoch or total_steps: torch CosineAnnealingWarmRestarts.")
        return "CosineAnnealingWarmRestarts", frozenset(), why
    why.append("has T_0 and last_epoch but not the T_i/T_cur of any known layout.")
    return "unknown", frozenset(), why


def _layout_allows(state: Mapping[str, Any]) -> frozenset[str]:
    """Profiles whose writer could have left this ``T_cur``/``total_steps`` layout.

    The LR formulas coincide at some positions (e.g. the cosine at ``2e`` equals the sine at ``e``),
    so a candidate is only tried when the state's layout is one its class writes: v2 keeps
    ``T_cur = -1`` and adds ``total_steps``; SimpleTuner's Cosine stores ``T_cur`` as a float
    (``-last_epoch``); the sine classes store an int ``T_cur >= 0``. A missing ``T_cur`` rules nothing out.
    """
    if "T_cur" not in state:
        return frozenset(PROFILE_NAMES)
    t_cur = state["T_cur"]
    allowed = {SINE, SIMPLETUNER_SINE_V1}
    if "total_steps" in state or t_cur == -1:
        allowed.add(SIMPLETUNER_SINE_V2)
    if isinstance(t_cur, float) or (as_int(t_cur) is not None and t_cur < 0):
        allowed.add(SIMPLETUNER_COSINE)
    return frozenset(allowed)


# --- LR checks -------------------------------------------------------------------------------


def _check(name: str, inp: _Inputs, state: Mapping[str, Any], allowed: bool) -> CandidateMatch:
    if not allowed:
        return CandidateMatch(name, False, False, reason="layout rules it out")
    e = inp.total_steps if name == SIMPLETUNER_SINE_V2 and inp.total_steps is not None else inp.last_epoch
    need = {"last_epoch": e, "T_0": inp.T_0, "T_mult": inp.T_mult, "eta_min": inp.eta_min, "base_lrs": inp.base_lrs}
    missing = [k for k, v in need.items() if v is None]
    if missing:
        return CandidateMatch(name, False, False, reason=f"unusable or missing: {', '.join(missing)}")
    assert e is not None and inp.T_0 is not None and inp.T_mult is not None
    assert inp.eta_min is not None and inp.base_lrs is not None
    if e < 0:
        return CandidateMatch(name, False, False, reason="never stepped (position -1)")
    stored = inp.last_lr
    if not isinstance(stored, (list, tuple)) or len(stored) != len(inp.base_lrs):
        return CandidateMatch(name, False, False, reason="_last_lr missing or not one value per base_lr")
    profile = PROFILES[name]
    try:
        positions = [profile.position(e, inp.T_0, inp.T_mult, inp.steps_per_epoch)]
        if name in (SIMPLETUNER_SINE_V1, SINE):
            # A stale T_cur (SimpleTuner's resume bug) leaves _last_lr written at the stored
            # position, not at last_epoch's: still this formula, with a position finding.
            t_cur, t_i = as_int(state.get("T_cur")), as_int(state.get("T_i"))
            if t_cur is not None and t_i is not None and 0 <= t_cur < t_i:
                positions.append((t_cur, t_i))  # SimpleTuner may rewrite last_epoch without stepping
        best: CandidateMatch | None = None
        for pos, period in dict.fromkeys(positions):
            expected = [truncate_lr(profile.lr(b, inp.eta_min, pos, period)) for b in inp.base_lrs]
            diffs = [abs(float(s) - x) if as_real(s) is not None else math.inf for s, x in zip(stored, expected)]
            ok = all(lr_matches(s, x) if as_real(s) is not None else False for s, x in zip(stored, expected))
            label = "total_steps" if name == SIMPLETUNER_SINE_V2 else "T_cur"
            where = f"{label}={pos!r}, {'T_0' if name == SIMPLETUNER_SINE_V2 else 'T_i'}={period}"
            cand = CandidateMatch(name, True, ok, where, expected, max(diffs), "" if ok else "_last_lr differs")
            if ok:
                return cand
            if best is None:
                best = cand
        assert best is not None
        return best
    except (ValueError, ZeroDivisionError, OverflowError, TypeError) as exc:
        return CandidateMatch(name, False, False, reason=f"cannot evaluate: {exc}")


def _is_torch_sgdr(inp: _Inputs) -> bool:
    """Whether ``_last_lr`` is torch ``CosineAnnealingWarmRestarts``'s (untruncated) value."""
    e, t0, tm, eta, bases, stored = inp.last_epoch, inp.T_0, inp.T_mult, inp.eta_min, inp.base_lrs, inp.last_lr
    if e is None or e < 0 or t0 is None or tm is None or eta is None or bases is None:
        return False
    if not isinstance(stored, (list, tuple)) or len(stored) != len(bases):
        return False
    t_cur, t_i = sine_position(e, t0, tm)
    expected = [cosine_lr(b, eta, t_cur, t_i) for b in bases]
    return all(as_real(s) is not None and lr_matches(s, x) for s, x in zip(stored, expected))


def _expected(inp: _Inputs, state: Mapping[str, Any]) -> SineExpectation | None:
    if inp.last_epoch is None or inp.last_epoch < 0 or inp.T_0 is None or inp.T_mult is None:
        return None
    ref = sine_state(inp.last_epoch, inp.T_0, inp.T_mult, inp.eta_min, inp.base_lrs)
    stored_count = as_int(state.get("_step_count"))
    step_count = stored_count if stored_count is not None else inp.last_epoch + 1
    return SineExpectation(ref.last_epoch, ref.T_cur, ref.T_i, ref.last_lr, step_count)


def detect_profile(state: Any) -> ProfileMatch:
    """Detect which formula wrote ``state`` (a decoded ``scheduler.bin``). Never raises."""
    try:
        return _detect(state)
    except Exception as exc:  # pragma: no cover - defensive: odd input must never crash a report
        reason = f"could not analyse the state: {type(exc).__name__}: {exc}"
        return ProfileMatch(UNCHECKED, "unknown", [reason], None)


def _detect(state: Any) -> ProfileMatch:
    if not isinstance(state, Mapping):
        return ProfileMatch(UNCHECKED, "unknown", [f"state is a {type(state).__name__}, not a dict."], None)
    if not all(isinstance(k, str) for k in state):
        state = {k: v for k, v in state.items() if isinstance(k, str)}
    kind, hint, evidence = _kind_and_hint(state)
    if kind in ("LambdaLR", "CosineAnnealingHardRestarts") or not {"T_0", "last_epoch"} <= set(state):
        return ProfileMatch(UNCHECKED, kind, evidence + ["ckptfix does not check this scheduler."], None)

    inp = _inputs(state, evidence)
    expected = _expected(inp, state)
    allowed = _layout_allows(state)
    candidates = [_check(name, inp, state, name in allowed) for name in PROFILE_NAMES]
    matched = [c.profile for c in candidates if c.matches]
    checked = [c for c in candidates if c.checked]

    # Where torch's cosine and the fixed sine agree (at a restart: both give base_lr) the state is
    # read as `sine`: that is what a repaired SimpleTuner state without steps_per_epoch looks like.
    if kind == "CosineAnnealingWarmRestarts" and SINE not in matched and _is_torch_sgdr(inp):
        evidence.append("_last_lr matches torch's cosine annealing at the SGDR position: not a sine scheduler.")
        return ProfileMatch(UNCHECKED, kind, evidence, expected, candidates, False, "lr")

    for c in candidates:
        if c.checked:
            verdict = "matches" if c.matches else f"does not match (max diff {c.max_abs_diff:.3g})"
            evidence.append(f"_last_lr {verdict} {c.profile} at {c.position}: expected {c.expected_lr}.")

    if matched:
        in_hint = [m for m in matched if m in hint]
        if len(matched) > 1:
            evidence.append(f"_last_lr fits several formulas at this position: {', '.join(matched)}.")
        profile = (in_hint or matched)[0]  # PROFILE_NAMES order is the tie-break preference
        basis: Basis = "lr+keys" if in_hint else "lr"
        if not in_hint and hint:
            evidence.append(f"the keys suggest {' or '.join(sorted(hint))}, but the LR decides {profile}.")
        also: tuple[str, ...] = ()
        if kind == "CosineAnnealingWarmRestarts" and profile == SINE and _is_torch_sgdr(inp):
            # same keys, same LR here (T_cur 0, or T_cur = 2/3 T_i): the class is not in the state; say both
            also = ("CosineAnnealingWarmRestarts",)
            evidence.append("_last_lr also matches torch's CosineAnnealingWarmRestarts at this position (T_cur "
                            f"{state.get('T_cur')!r} of T_i {state.get('T_i')!r}): the two agree here and their states "
                            "have the same keys, so either class may have written it.")
        kind = "Cosine" if profile == SIMPLETUNER_COSINE else "Sine"
        if profile == SINE and expected is not None:
            stored = (as_int(state.get("T_cur")), as_int(state.get("T_i")))
            if stored != (expected.T_cur, expected.T_i):
                evidence.append(
                    f"stored T_cur/T_i {stored} differ from the sine position {(expected.T_cur, expected.T_i)}."
                )
        return ProfileMatch(profile, kind, evidence, expected, candidates, True, basis, also)

    if len(hint) == 1:
        (profile,) = hint
        why = "no candidate could be checked" if not checked else "_last_lr matches no formula"
        evidence.append(f"{why}; the keys point to {profile}.")
        return ProfileMatch(profile, kind, evidence, expected, candidates, False, "keys")
    near = [
        (c.max_abs_diff, c.profile)
        for c in checked
        if kind == "Sine" and c.profile in hint and c.max_abs_diff is not None and math.isfinite(c.max_abs_diff)
    ]
    if near:
        _, best = min(near)
        evidence.append(f"_last_lr matches no formula; closest of the layout's candidates: {best}.")
        return ProfileMatch(best, kind, evidence, expected, candidates, False, "nearest")
    evidence.append("_last_lr could not be checked against any formula.")
    return ProfileMatch(UNCHECKED, kind, evidence, expected, candidates, False, "none")
