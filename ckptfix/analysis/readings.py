"""A state two formulas fit (issue 21 item 5: never a confident wrong name), from the model to findings (pure).

torch's ``CosineAnnealingWarmRestarts`` and the fixed sine keep the same keys, and at a restart (and at
``T_cur = 2/3 T_i``) give the same LR: ``schedulers/detect.py`` names both (``ProfileMatch.also_fits``). Which class
the resuming script builds is not in the checkpoint; a trainer that builds its own formula (SimpleTuner) settles
it, one that runs the user's scheduler (``TrainerRules.formula`` None: accelerate, the diffusers scripts, kohya,
the transformers Trainer) does not. Then:

* CKF143 (info): both fit and agree on what is checked (the position against N × the step, ``T_cur``/``T_i``,
  ``_last_lr``); the preview's later LRs are the sine's;
* CKF144 (error): ``last_epoch`` is not N × the step (or no N makes it so), which a stale sine state and a
  ``CosineAnnealingWarmRestarts`` stepped less often than once per optimizer step both explain: said with both
  readings, and never rewritten (a rewrite to N × the step would corrupt the second).
"""

from __future__ import annotations

from ckptfix.analysis.findings import Finding, make_finding
from ckptfix.analysis.report import RulesChoice
from ckptfix.model.checkpoint import SchedulerFile
from ckptfix.schedulers.detect import ProfileMatch

__all__ = ["other_readings", "reading_findings"]


def other_readings(match: ProfileMatch | None, choice: RulesChoice) -> tuple[str, ...]:
    """The other classes ``match``'s state fits, when the resuming trainer may have built any of them (it runs the
    user's scheduler in every release in question); () when the state fits one, or the trainer builds its own."""
    if match is None or not match.also_fits or any(r.formula is not None for r in choice.rules):
        return ()
    return match.also_fits


def reading_findings(sf: SchedulerFile, match: ProfileMatch, others: tuple[str, ...], last_epoch: int,
                     step: int | None, n: int | None) -> list[Finding]:
    """CKF143 or CKF144 for a state that ``others`` fit as well as ``match.profile`` (see the module docstring)."""
    if not others:
        return []
    names = " and ".join(others)
    where = f"T_cur {sf.state.get('T_cur')!r} of T_i {sf.state.get('T_i')!r}" if sf.state else "this position"
    both = (f"the state fits the fixed sine and torch's {names} alike (same keys; at {where} the same LR), so ckptfix "
            "cannot tell which class the script builds")
    if step is None or step <= 0 or last_epoch < 0:
        return [make_finding("CKF143", sf.path, "_last_lr", match.profile, list(others), both + "; the position is not "
                             "checked (the step is not known)")]
    expected = n * step if n is not None else None
    if expected == last_epoch or (expected is None and last_epoch >= step):
        return [make_finding("CKF143", sf.path, "_last_lr", match.profile, list(others),
                             both + f"; checked what both agree on (last_epoch {last_epoch}, T_cur, T_i, _last_lr). The "
                             f"resume preview shows the sine's LRs: a {names} continues with its own cosine")]
    runs = n * step if n is not None else step
    per = f"{runs // last_epoch}" if last_epoch > 0 and runs % last_epoch == 0 else (
        f"{runs / last_epoch:.3g}" if last_epoch > 0 else "more than")
    sine = (f"as the fixed sine (or a {names} stepped once per optimizer step) it is stale: {n} process(es) × step "
            f"{step} = {expected}" if expected is not None else
            f"as the fixed sine it is stale: no process count N makes N × step {step} = last_epoch {last_epoch}")
    return [make_finding("CKF144", sf.path, "last_epoch", last_epoch, expected,
                         f"last_epoch is {last_epoch} at step {step}: {sine}; but {both}, and a {names} that the script "
                         f"steps once per {per} optimizer steps (once per epoch, say) is exactly here. ckptfix does not "
                         "rewrite it: check how your script steps the scheduler")]
