"""Discover → analyse → plan → (apply → re-analyse): the whole ``repair`` pipeline for one PATH."""

from __future__ import annotations

from pathlib import Path

from ckptfix.analysis.checks import analyse
from ckptfix.analysis.findings import exit_code
from ckptfix.analysis.options import Options
from ckptfix.analysis.report import CheckpointReport, RunFacts
from ckptfix.analysis.run import analyse_path
from ckptfix.errors import UsageError
from ckptfix.exitcodes import NOTHING_TO_RESUME
from ckptfix.formats.source import LOCAL, Store
from ckptfix.model.checkpoint import Discovery
from ckptfix.model.load import load_checkpoint
from ckptfix.records import Record, replace
from ckptfix.repair.actions.interface import Fault
from ckptfix.repair.apply import LOCAL_SITE, ApplyResult, apply_plan
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
    """Plan the repair of one analysed checkpoint, apply it (unless ``dry_run``) and analyse it again (read
    again: its files changed) under the same ``opts`` and ``facts``."""
    plan = plan_repair(report, opts)
    site = LOCAL_SITE
    if store.remote:
        from ckptfix.repair.remote import ObjectSite, for_object_storage  # noqa: PLC0415 - object storage only

        plan, site = for_object_storage(plan, store, opts.optimizer_lr), ObjectSite(store)
    if dry_run:
        status = "dry-run" if plan.actions else ("refused" if plan.refusals else "nothing")
        return CheckpointOutcome(plan, ApplyResult(plan.checkpoint, status), report, plan.exit_code_if_not_applied)
    result = apply_plan(plan, fault, site)
    after = report
    if result.status in ("applied", "failed"):
        after = analyse(load_checkpoint(plan.checkpoint, store=store), opts, facts)
    # after a repair, a step disagreement that --step settled does not count
    code = exit_code(after.findings, opts.strict, frozenset({"CKF010"}) if opts.step is not None else frozenset())
    if plan.refusals:
        code = max([code] + [r.exit_code for r in plan.refusals])
    if result.status in ("failed", "locked"):
        code = max(code, 1)
    return CheckpointOutcome(plan, result, after, code)


def repair_path(path: Path, opts: Options = Options(), latest_only: bool = False, dry_run: bool = False,
                fault: Fault | None = None, store: Store = LOCAL, facts: RunFacts = RunFacts()) -> RepairOutcome:
    """Repair every checkpoint under ``path`` (or only the latest) as ``opts`` say (``recreate``,
    ``optimizer_lr`` among them); ``UsageError`` for a bad PATH (and, on object storage, for
    ``--optimizer-lr``: ``repair/remote.py``). Each checkpoint is read once before the repair."""
    if store.remote and opts.optimizer_lr:
        from ckptfix.repair.remote import OPTIMIZER_LR_REFUSED  # noqa: PLC0415 - object storage only

        raise UsageError(OPTIMIZER_LR_REFUSED)
    done = analyse_path(path, opts, latest_only=latest_only, store=store, facts=facts)
    items = []
    for report in done.reports:
        from_run = report.processes.from_run if report.processes is not None else None
        ck_facts = replace(done.facts, run_processes=from_run) if from_run else done.facts
        items.append(repair_checkpoint(report, opts, dry_run, fault, store, ck_facts))
    code = max((i.exit_code for i in items), default=NOTHING_TO_RESUME)
    return RepairOutcome(done.disc, tuple(items), dry_run, code)
