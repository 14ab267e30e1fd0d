"""Resume preview: the LRs a resumed run will use for its first steps, against the target formula (pure).

What a resume does (docs/trainers.md): ``accelerator.load_state`` replaces the fresh scheduler's state
with ``scheduler.bin`` (``T_0``, ``eta_min``, ``base_lrs``, ``last_epoch``) and the optimizer's with
``optimizer.bin`` (its ``lr``); then the trainer may overwrite ``last_epoch`` (SimpleTuner:
``epoch_step × N`` before 4.10, ``global_step × N`` from 4.10.0). So, with ``L`` that ``last_epoch``:

* optimizer step ``g + 1`` uses the ``lr`` stored in ``optimizer.bin``;
* step ``g + k`` (k >= 2) uses the formula the trainer runs at ``L + N·(k − 1)``, with the stored values.

The uninterrupted run with the target formula uses, at step ``s``, the target at ``N·(s − 1)``, with the
same stored values (a flag that disagrees with them is CKF060's business, not the resume's). A difference
is reported from the first step where the two disagree (beyond the trainer's 1e-9 truncation), with its size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ckptfix.analysis.report import PreviewStep, ResumePreview
from ckptfix.coerce import as_int, as_real, as_reals
from ckptfix.model.trainers import TrainerRules
from ckptfix.records import Record
from ckptfix.schedulers.formulas import lr_matches, truncate_lr
from ckptfix.schedulers.profiles import PROFILES

__all__ = ["DISPLAY_STEPS", "SCAN_STEPS", "preview_resume", "resume_position"]

#: Steps after the resume shown in reports.
DISPLAY_STEPS = 5
#: Steps scanned for the first wrong LR when the resumed and target runs are not the same by construction.
SCAN_STEPS = 512


def resume_position(rule: str, stored_last_epoch: int | None, trainer_step: int, epoch_step: int | None,
                    n: int) -> int | None:
    """``last_epoch`` after the trainer's resume: stored, ``epoch_step × N`` or ``global_step × N``.
    ``epoch_step`` and ``trainer_step``: the values the trainer's resume computes with (``resume_checks.trainer_reads``:
    SimpleTuner reads 0 for a missing key, so its ``training_state.get("epoch_step", global_resume_step)`` never
    falls back); an ``epoch_step`` of None stands for the trainer's step."""
    if rule == "stored":
        return stored_last_epoch
    if rule == "epoch_step":
        return (epoch_step if epoch_step is not None else trainer_step) * n
    return trainer_step * n


class _Params(Record):
    t0: int
    t_mult: int
    eta: float
    bases: tuple[float, ...]


def _stored(state: dict[str, Any]) -> _Params | None:
    t0, tm = as_int(state.get("T_0")), as_int(state.get("T_mult", 1))
    eta, bases = as_real(state.get("eta_min")), as_reals(state.get("base_lrs"))
    if t0 is None or t0 < 1 or tm is None or tm < 1 or eta is None or bases is None:
        return None
    return _Params(t0, tm, eta, tuple(bases))


def _lrs(profile: str, p: _Params, e: int) -> list[float]:
    """Untruncated LRs of ``profile`` at ``last_epoch`` ``e`` (``e < 0``: the base LRs, never stepped)."""
    prof = PROFILES[profile]
    if e < 0:
        return list(p.bases)
    pos, period = prof.position(e, p.t0, p.t_mult, -1)
    return [prof.lr(b, p.eta, pos, period) for b in p.bases]


def _step_ok(lrs: Sequence[float | None], expected: Sequence[float]) -> bool:
    return all(x is not None and lr_matches(x, y) for x, y in zip(lrs, expected))


def _diff(lrs: Sequence[float | None], expected: Sequence[float]) -> float:
    return max((abs(x - truncate_lr(y)) for x, y in zip(lrs, expected) if x is not None), default=0.0)


def preview_resume(state: dict[str, Any], optimizer_lrs: Sequence[float | None] | None, step: int,
                   trainer_step: int, epoch_step: int | None, n: int, rules: Sequence[TrainerRules], runs: str,
                   target: str, tail: int = 64) -> ResumePreview | None:
    """The first steps after resuming this state under ``rules`` (same ``last_epoch_from`` for all), with
    the trainer running formula ``runs`` (a profile name); None when the state's values are unusable.
    ``step``: the checkpoint's true step; ``trainer_step``: the step the trainer's resume takes; ``tail``: steps
    scanned after the first wrong one (for the largest difference)."""
    p = _stored(state)
    if p is None or not rules or step < 0 or n < 1 or runs not in PROFILES or target not in PROFILES:
        return None
    want = p
    rule = rules[0].last_epoch_from
    stored = as_int(state.get("last_epoch"))
    start = resume_position(rule, stored, trainer_step, epoch_step, n)
    if start is None:
        return None
    true = n * step
    # step g+1: the optimizer's stored lr; the first group's value stands for the group when unreadable
    first_lrs: list[float | None] = list(optimizer_lrs) if optimizer_lrs else [None] * len(p.bases)
    first_lrs = (first_lrs + [None] * len(p.bases))[: len(p.bases)]
    try:
        rows: list[PreviewStep] = []
        first_wrong = found = expected_at = scheduler_wrong = s_found = s_expected = None
        max_diff = 0.0
        same_run = runs == target and p == want and start == true
        horizon = max(DISPLAY_STEPS, 2) if same_run else SCAN_STEPS
        scanned = 0
        for k in range(1, horizon + 1):
            s = step + k
            exp = _lrs(target, want, true + n * (k - 1))
            got: list[float | None] = (first_lrs if k == 1 else
                                       [truncate_lr(x) for x in _lrs(runs, p, start + n * (k - 1))])
            known = [x for x in got if x is not None]
            ok = _step_ok(got, exp) if len(known) == len(got) else True
            scanned = k
            if known:
                max_diff = max(max_diff, _diff(got, exp))
            if not ok and first_wrong is None:
                first_wrong, found, expected_at = s, got[0], truncate_lr(exp[0])
            if not ok and k >= 2 and scheduler_wrong is None:
                scheduler_wrong, s_found, s_expected = s, got[0], truncate_lr(exp[0])
            if k <= DISPLAY_STEPS or (not ok and scheduler_wrong == s):
                rows.append(PreviewStep(s, got[0], truncate_lr(exp[0]), ok))
            if scheduler_wrong is not None and k >= DISPLAY_STEPS and k - (scheduler_wrong - step) >= tail:
                break  # the first wrong step and ``tail`` more: enough to say by how much
    except (ValueError, OverflowError, ZeroDivisionError):
        return None
    return ResumePreview(tuple(r.label for r in rules), rule, n, stored, start, true, runs, target, tuple(rows),
                         first_wrong=first_wrong, found=found, expected=expected_at, max_diff=max_diff,
                         scanned=scanned, scheduler_wrong=scheduler_wrong, scheduler_found=s_found,
                         scheduler_expected=s_expected)
