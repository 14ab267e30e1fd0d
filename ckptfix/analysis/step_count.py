"""How many steps the resumed run takes, as the trainer's own loop counts them (issue 21 item 4), from the model
to findings (pure). The arithmetic is the trainer model's (``TrainerModel.resume_count``: kohya's
``train_network.py``); its launch flag, which no checkpoint file records, is the user's to state
(``TrainerModel.launch_flag``: an option of ``analysis.Options``):

* CKF141: the launch the user stated takes another number of steps than remain (or stops);
* CKF142: the launch is not stated, and its two choices do not both take the steps that remain;
* CKF145: a trainer's loop takes more steps than remain whatever its launch (the diffusers scripts after a
  resume from the middle of an epoch, with ``--steps-per-epoch`` and ``--max-train-steps``).

The scheduler continues from its stored position either way: steps beyond those that remain run past the end
of the schedule, fewer leave it unfinished.
"""

from __future__ import annotations

from ckptfix.analysis.findings import Finding, make_finding
from ckptfix.analysis.report import Options, RulesChoice
from ckptfix.model.checkpoint import Checkpoint
from ckptfix.model.trainers import ResumeCount, get_trainer

__all__ = ["resume_counts", "step_count_findings"]


def resume_counts(ck: Checkpoint, choice: RulesChoice, step: int | None,
                  opts: Options = Options()) -> dict[bool, ResumeCount]:
    """The resumed run's step count for each value of the trainer's launch flag (a trainer without one: under
    ``False``), from ``step`` (the checkpoint's; a trainer with a launch flag, kohya, counts from its state file's,
    which must be readable as it reads it). The run's configuration from its files, the resuming launch's
    ``--max-train-steps`` and ``--steps-per-epoch`` over it. Empty: the trainer's loop takes the steps that remain
    whatever its launch, or the step is not known."""
    model = get_trainer(choice.trainer)
    ts = ck.training_state
    if step is None:
        return {}
    if model.launch_flag is not None and (ts is None or ts.problem is not None or ts.encoding is not None):
        return {}  # the count starts from the state file's step: without a usable one, CKF006/CKF117 say what happens
    config = ck.run_config
    values = {k: config.get(k) for k in config.values} if config is not None and config.problem is None else {}
    values.update({k: v for k, v in (("max_steps", opts.max_train_steps), ("steps_per_epoch", opts.steps_per_epoch))
                   if v is not None})
    epoch = ts.epoch if ts is not None else None
    out = {}
    for choice_ in (False, True) if model.launch_flag is not None else (False,):
        rc = model.resume_count(step, epoch, ck.name, values, choice_)
        if rc is not None:
            out[choice_] = rc
    return out


def step_count_findings(ck: Checkpoint, choice: RulesChoice, step: int | None, opts: Options) -> list[Finding]:
    """CKF141 / CKF142 for ``ck`` resumed by ``choice``'s trainer (see the module docstring)."""
    counts = resume_counts(ck, choice, step, opts)
    flag = get_trainer(choice.trainer).launch_flag
    if not counts:
        return []
    file = ck.training_state.path if ck.training_state is not None else ck.path
    if flag is None:  # the loop's own count, whatever the launch (the diffusers scripts): CKF145
        rc = counts[False]
        if rc.follows is not False:
            return []
        return [make_finding("CKF145", file, "global_step", rc.takes, rc.remaining, _said(rc))]
    stated = getattr(opts, flag.option)
    if stated is not None:
        rc = counts.get(stated)
        if rc is None or rc.follows is True:
            return []
        other = counts.get(not stated)
        msg = _said(rc)
        if other is not None and other.follows is True:
            msg += f". {other.how}: launch {'with' if other.choice else 'without'} {flag.trainer_flag} instead"
        return [make_finding("CKF141", file, "current_step", rc.takes, rc.remaining, msg,
                             severity=None if rc.follows is False else "warning")]
    if all(rc.follows is True for rc in counts.values()):
        return []
    no, yes = counts.get(False), counts.get(True)
    parts = [_said(rc) for rc in (no, yes) if rc is not None]
    sure = any(rc.follows is False for rc in counts.values())
    default = counts.get(flag.default)
    found = default.takes if default is not None else None
    expected = default.remaining if default is not None else None
    msg = (f"{flag.trainer_flag} is a flag of the resuming launch that no checkpoint file records. " + ". ".join(parts)
           + f". Say which launch resumes: pass {flag.yes} or {flag.no}")
    return [make_finding("CKF142", file, "current_step", found, expected, msg, severity=None if sure else "warning")]


def _said(rc: ResumeCount) -> str:
    return rc.how + (f": the resume stops ({rc.raises})" if rc.raises else "")
