"""Checks specific to trainer layouts (issue 7): Hugging Face Trainer and DeepSpeed engine state.

Pure functions from the model to findings; ``analyse()`` calls ``trainer_findings`` once. The sine checks
in ``checks.py`` still run on whatever scheduler state these layouts hold; the ones here cover what the
sine checks cannot: a ``LambdaLR`` (transformers' schedules) against the Trainer's own step and log, and a
DeepSpeed-owned scheduler against the engine's counters.
"""

from __future__ import annotations

import math
import re

from ckptfix.analysis.findings import Finding, make_finding
from ckptfix.analysis.report import StepInfo
from ckptfix.coerce import as_int
from ckptfix.model.checkpoint import Checkpoint, SchedulerFile

# transformers >= 4.51 logs the LR of the step just taken, before lr_scheduler.step() (PR #36973)
PRE_STEP_LOGGING_FROM = (4, 51)


def version_tuple(v: str | None) -> tuple[int, int] | None:
    m = re.match(r"^(\d+)\.(\d+)", v or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def logs_post_step_lr(transformers_version: str | None) -> bool | None:
    """True: the logged LR is the post-step LR (the optimizer's); False: pre-step; None: unknown version."""
    v = version_tuple(transformers_version)
    return None if v is None else v < PRE_STEP_LOGGING_FROM


def trainer_findings(ck: Checkpoint, steps: StepInfo) -> list[Finding]:
    out: list[Finding] = []
    if ck.trainer_state is not None:  # read by the hf-trainer layout
        out += _hf_trainer(ck)
    if ck.engine is not None:
        out += _engine(ck, steps)
    return out


def checks_scheduler_position(ck: Checkpoint) -> bool:
    """Whether ``trainer_findings`` compares a scheduler's position with the trainer's own counters
    (then a ``LambdaLR`` the sine checks cannot judge is still checked)."""
    if ck.trainer_state is not None and ck.trainer_state.global_step is not None:
        return _trainer_scheduler(ck) is not None
    e = ck.engine
    return e is not None and e.global_steps is not None and any(s.path == e.path and s.state is not None
                                                                 for s in ck.schedulers)


def _trainer_scheduler(ck: Checkpoint) -> SchedulerFile | None:
    for sf in ck.schedulers:
        if sf.path.name == "scheduler.pt" and sf.state is not None:
            return sf
    return None


def _hf_trainer(ck: Checkpoint) -> list[Finding]:
    out: list[Finding] = []
    ts = ck.trainer_state
    if ts is None or ts.problem is not None or ts.global_step is None:
        return out
    g = ts.global_step
    sf = _trainer_scheduler(ck)
    if sf is not None and sf.state is not None:
        le = as_int(sf.state.get("last_epoch"))
        if le is not None and le != g:
            out.append(make_finding("CKF100", sf.path, "last_epoch", le, g,
                                f"last_epoch is {le}; the Trainer steps its scheduler once per optimizer step, "
                                f"so after global_step {g} it should be {g}"
                                + (" (fewer: fp16 overflow steps skip the scheduler)" if le < g else "")))
    # The last logged LR against the optimizer's lr (param group 0: what the Trainer logs).
    opt = next((o for o in ck.optimizers if o.path.name == "optimizer.pt" and o.problem is None), None)
    logged = ts.last_logged_lr
    if opt is None or not opt.param_groups or opt.param_groups[0].lr is None or logged is None:
        return out
    if logged.step != g or logs_post_step_lr(ts.transformers_version) is not True:
        return out  # not comparable: logged at another step, or the pre-step LR (transformers >= 4.51 / unknown)
    lr = opt.param_groups[0].lr
    if not _close(logged.learning_rate, lr):
        out.append(make_finding("CKF101", ts.path, "log_history[-1].learning_rate", logged.learning_rate, lr,
                            f"the Trainer logged learning_rate {logged.learning_rate!r} at step {g} "
                            f"(transformers {ts.transformers_version}: the post-step LR), but optimizer.pt's "
                            f"param_groups[0]['lr'] is {lr!r}"))
    return out


def _close(a: float, b: float) -> bool:
    # LambdaLR LRs are not truncated and the JSON log round-trips floats exactly: allow float rounding only.
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)


def _engine(ck: Checkpoint, steps: StepInfo) -> list[Finding]:
    out: list[Finding] = []
    e = ck.engine
    if e is None or e.problem is not None or e.global_steps is None:
        return out
    # 1. global_steps against the trainer's own step (when the step came from somewhere else).
    ts = ck.training_state
    other = None
    if ts is not None and ts.path != e.path and ts.global_step is not None:
        other = (ts.global_step, ts.source)
    elif ts is None and ck.folder_step is not None:
        other = (ck.folder_step, "folder name")
    if other is not None and other[0] != e.global_steps:
        out.append(make_finding("CKF102", e.path, "global_steps", e.global_steps, other[0],
                            f"DeepSpeed's global_steps is {e.global_steps}; {other[1]} says {other[0]}"))
    # 2. A DeepSpeed-owned scheduler against the engine's counters.
    sf = next((s for s in ck.schedulers if s.path == e.path and s.state is not None), None)
    if sf is None or sf.state is None:
        return out
    stepped = e.global_steps - (e.skipped_steps or 0)
    state = sf.state
    if "last_batch_iteration" in state and as_int(state["last_batch_iteration"]) is not None:
        key, found, expected = "last_batch_iteration", as_int(state["last_batch_iteration"]), stepped - 1
    elif "last_epoch" in state and as_int(state["last_epoch"]) is not None:
        key, found, expected = "last_epoch", as_int(state["last_epoch"]), stepped
    else:
        return out
    if found != expected:
        out.append(make_finding("CKF103", e.path, f"lr_scheduler.{key}", found, expected,
                            f"lr_scheduler.{key} is {found}; with global_steps {e.global_steps} and "
                            f"skipped_steps {e.skipped_steps or 0} it should be {expected}"))
    return out
