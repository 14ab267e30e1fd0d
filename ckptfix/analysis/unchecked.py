"""What "unchecked" leaves unchecked, and what would check it (issue 21 item 5), for reports (pure).

A checkpoint is "unchecked" when every scheduler it holds is one ckptfix has no check for (``CheckpointReport
.unchecked``): reported, not a finding (exit 0, the CLI contract), but never "safe to resume". This names, per
scheduler file, the class (``schedulers/families``: every torch scheduler recognised from its state), what is not
checked (its position against N × the step, its LR) and what the check would need (a family's ``from_config``),
and ``--strict`` makes it exit 1 (``CheckpointReport.exit_code``).
"""

from __future__ import annotations

from ckptfix.analysis.report import CheckpointReport
from ckptfix.coerce import as_int
from ckptfix.schedulers.profiles import UNCHECKED

__all__ = ["unchecked_note"]


def unchecked_note(report: CheckpointReport) -> str | None:
    """One sentence per unchecked scheduler file of ``report``: ``scheduler.bin (LambdaLR): its position (last_epoch 8
    at step 8) and LR are not checked: ...``; None when the report is not "unchecked"."""
    if not report.unchecked:
        return None
    from ckptfix.schedulers.families import get_family, recognise  # noqa: PLC0415 - only to say what an unchecked state is

    step = report.steps.chosen
    checks = {c.file.path: c for c in report.schedule_checks}
    parts = []
    for sr in report.schedulers:
        if sr.profile != UNCHECKED or sr.file.state is None:
            continue
        state = sr.file.state
        m = recognise(state)
        family = get_family(m.family) if m is not None else None
        name = m.torch_class if m is not None else (sr.match.scheduler_kind if sr.match else "unknown")
        if m is not None and m.also:
            name = " or ".join((name, *m.also))  # the same keys
        le = as_int(state.get("last_epoch"))
        where = f"last_epoch {le}" + (f" at step {step}" if step is not None else "")
        check = checks.get(sr.file.path)
        if family is not None and not family.has_position:
            what = "its LR follows a metric, not the step: there is no position to check"
        elif check is not None and check.checked == "position":
            what = f"its position ({where}) is checked, its LRs are not"
        else:
            what = f"its position ({where}) and its LR are not checked"
        if check is not None and check.needs:  # a need starts with what it is for ("the LR: "): said already
            needs = ": " + "; ".join(n.removeprefix("the LR trajectory: ").removeprefix("the LR: ") for n in check.needs)
        elif family is not None and family.from_config:
            needs = f"; the LR needs {', '.join(family.from_config)}, which the checkpoint does not hold"
        elif family is not None and family.from_optimizer:
            needs = f"; the LR needs {', '.join(family.from_optimizer)} from optimizer.bin"
        else:
            needs = ""
        parts.append(f"{sr.file.path.name} ({name}): {what}{needs}")
    if not parts:
        return None
    return ("; ".join(parts) + ". Exit 0 here means nothing wrong was found, not that the resume follows its "
            "schedule (--strict: exit 1)")
