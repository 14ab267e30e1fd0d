"""Discover → analyse → plan → (apply → re-analyse): the whole ``repair`` pipeline for one PATH."""

from __future__ import annotations

from pathlib import Path

from ckptfix.analysis.checks import analyse
from ckptfix.analysis.options import Options
from ckptfix.analysis.report import CheckpointReport, RunFacts
from ckptfix.analysis.run import analyse_path
from ckptfix.errors import UsageError
from ckptfix.exitcodes import FINDINGS, NOTHING_TO_RESUME, OK, worst
from ckptfix.formats.source import LOCAL, Store
from ckptfix.formats.source.durable import writable
from ckptfix.model.checkpoint import Discovery
from ckptfix.model.load import load_checkpoint
from ckptfix.records import Record, replace
from ckptfix.repair.actions.interface import Fault
from ckptfix.repair.actions.optimizer_lr import NOT_IN_PLACE
from ckptfix.repair.apply import ApplyResult, Status, apply_plan
from ckptfix.repair.plan import RepairPlan, plan_repair

__all__ = ["CheckpointOutcome", "RepairOutcome", "repair_checkpoint", "repair_path"]


class CheckpointOutcome(Record):
    """One checkpoint's plan, what applying it did, and the analysis after."""

    plan: RepairPlan
    result: ApplyResult
    after: CheckpointReport  # the analysis after the repair (the original one when nothing was written)
    exit_code: int


class RepairOutcome(Record):
    """``repair`` on one PATH: every checkpoint's outcome, and the exit code."""

    disc: Discovery
    items: tuple[CheckpointOutcome, ...]
    dry_run: bool
    exit_code: int


def repair_checkpoint(report: CheckpointReport, opts: Options, dry_run: bool = False, fault: Fault | None = None,
                      store: Store = LOCAL, facts: RunFacts = RunFacts()) -> CheckpointOutcome:
    """Plan the repair of one analysed checkpoint, apply it through ``store``'s writer (unless ``dry_run``) and
    analyse it again (read again: its files changed) under the same ``opts`` and ``facts``."""
    target = writable(store)
    plan = plan_repair(report, opts, target)
    if dry_run:
        status: Status = "dry-run" if plan.actions else ("refused" if plan.refusals else "nothing")
        return CheckpointOutcome(plan, ApplyResult(plan.checkpoint, status), report, plan.exit_code_if_not_applied)
    result = apply_plan(plan, fault, target)
    after = report
    if result.status in ("applied", "failed"):
        after = analyse(load_checkpoint(plan.checkpoint, store=store), opts, facts)
    # after a repair, a step disagreement that --step settled does not count
    code = after.exit_code_waiving(frozenset({"CKF010"}) if opts.step is not None else frozenset())
    failed = FINDINGS if result.status in ("failed", "locked") else OK
    code = worst([code, failed, *(r.exit_code for r in plan.refusals)])
    return CheckpointOutcome(plan, result, after, code)


def repair_path(path: Path, opts: Options = Options(), latest_only: bool = False, dry_run: bool = False,
                fault: Fault | None = None, store: Store = LOCAL, facts: RunFacts = RunFacts(),
                disc: Discovery | None = None) -> RepairOutcome:
    """Repair every checkpoint under ``path`` (or only the latest) as ``opts`` say (``recreate``,
    ``optimizer_lr`` among them); ``UsageError`` for a bad PATH, and for ``--optimizer-lr`` where the store
    cannot patch a file in place (object storage), before anything is read. Each checkpoint is read once
    before the repair."""
    if opts.optimizer_lr and not writable(store).patches_in_place:
        raise UsageError(NOT_IN_PLACE)
    done = analyse_path(path, opts, latest_only=latest_only, store=store, facts=facts, disc=disc)
    items = []
    for report in done.reports:
        from_run = report.processes.from_run if report.processes is not None else None
        ck_facts = replace(done.facts, run_processes=from_run) if from_run else done.facts
        items.append(repair_checkpoint(report, opts, dry_run, fault, store, ck_facts))
    code = worst((i.exit_code for i in items), NOTHING_TO_RESUME)
    return RepairOutcome(done.disc, tuple(items), dry_run, code)
