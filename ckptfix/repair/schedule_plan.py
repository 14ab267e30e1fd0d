"""What a repair does to a scheduler file that is not a sine state (issue 21): pure, from the analysis.

In the trainer's own terms: the class the trainer builds is never replaced. A position rewrite (CKF120, CKF122
with another N) writes only the position keys ``analysis/schedule_checks.py`` planned (``ScheduleCheck.rewrite``:
``last_epoch``, ``_step_count`` with its offset kept, ``T_cur``/``T_i``, and ``_last_lr`` where the formula is
known), every other key (``lr_lambdas`` included) kept as decoded; it is planned only where no reading that fits
the state contradicts it and, where the LRs can be computed, only when the resume of the rewritten state follows.
SimpleTuner's ``epoch_step`` (CKF122/CKF124 on ``training_state.json``) is ``plan.py``'s state-file write. Anything
else is refused with the analysis's reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ckptfix.analysis.findings import Finding
from ckptfix.analysis.report import CheckpointReport, ScheduleCheck
from ckptfix.formats.torch_writer import archive_name_for, dumps
from ckptfix.records import Record
from ckptfix.repair.actions.interface import ABSENT, Change, same
from ckptfix.repair.actions.scheduler import SchedulerWrite
from ckptfix.text import clip

__all__ = ["POSITION_CODES", "SchedulePlan", "note", "plan_schedule_files"]

#: The findings on a scheduler file a position rewrite fixes.
POSITION_CODES = frozenset({"CKF120", "CKF122", "CKF124"})


class SchedulePlan(Record):
    """The rewrites, the findings they (or the ``epoch_step`` write) cover (by ``id``), and the refusals as
    (file, reason)."""

    writes: tuple[SchedulerWrite, ...] = ()
    covered: frozenset[int] = frozenset()
    refusals: tuple[tuple[Path, str], ...] = ()
    epoch_step: bool = False  # a check is fixed by setting SimpleTuner's epoch_step to the step


def _own(report: CheckpointReport, c: ScheduleCheck, first: bool) -> list[Finding]:
    """The position findings of ``c``'s file, and (for the first scheduler) those on the trainer state's
    ``epoch_step``."""
    return [f for f in report.findings if f.code in POSITION_CODES
            and (f.file == str(c.file.path) or (first and f.key == "epoch_step"))]


def _write(c: ScheduleCheck, fixes: tuple[str, ...]) -> SchedulerWrite | str:
    """The rewrite of ``c``'s file to ``c.rewrite``, or why it cannot be written."""
    state = c.file.state
    assert state is not None and c.rewrite is not None
    changes = tuple(Change(c.file.path, k, state.get(k, ABSENT), v, fixes) for k, v in c.rewrite.items()
                    if not (k in state and same(state[k], v)))
    if not changes:
        return "the state already holds the planned position"
    write = SchedulerWrite(c.file.path, "rewrite", changes, state)
    try:
        dumps(write.target, archive_name_for(c.file.path.name))
    except (TypeError, ValueError) as exc:
        return (f"{c.file.path.name} holds a value ckptfix does not write back with its type ({clip(str(exc), 120)}): "
                "the state is not rewritten")
    return write


def plan_schedule_files(report: CheckpointReport) -> SchedulePlan:
    """Each scheduler file checked by its family with a position finding: its rewrite, or its refusal."""
    writes: list[SchedulerWrite] = []
    covered: set[int] = set()
    refusals: list[tuple[Path, str]] = []
    epoch_step = any(c.fix_epoch_step for c in report.schedule_checks)
    for i, c in enumerate(report.schedule_checks):
        if c.fix_epoch_step:
            continue  # plan.py's write of training_state.json's epoch_step fixes it (and covers its findings)
        own = _own(report, c, i == 0)
        if not own:
            continue
        codes = tuple(sorted({f.code for f in own}))
        if c.rewrite is not None:
            done = _write(c, codes)
            if isinstance(done, str):
                refusals.append((c.file.path, f"{', '.join(codes)}: {done}"))
            else:
                writes.append(done)
        else:
            why = c.refusal or "ckptfix cannot make this resume follow by rewriting the scheduler state"
            refusals.append((c.file.path, f"{', '.join(codes)}: {why}"))
        covered.update(id(f) for f in own)
    return SchedulePlan(tuple(writes), frozenset(covered), tuple(refusals), epoch_step)


def note(write: SchedulerWrite, check: Any) -> str:
    """What a rewrite keeps, for the plan's notes."""
    keys = ", ".join(ch.key for ch in write.changes)
    return (f"{write.path.name}: {check.family} kept; only its position is rewritten ({keys}); every other key "
            "stays as it is")
