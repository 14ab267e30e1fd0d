"""Discover → analyse → plan → (apply → re-analyse): the whole ``repair`` pipeline for one PATH."""

from __future__ import annotations

from pathlib import Path

from ckptfix.analysis.checks import analyse
from ckptfix.analysis.findings import exit_code
from ckptfix.analysis.report import CheckpointReport, Options
from ckptfix.analysis.run import discover_for, inspect_one, prepare_options, settle_processes, with_installed_release
from ckptfix.errors import UsageError
from ckptfix.exitcodes import FINDINGS, NOTHING_TO_RESUME, OK, worst
from ckptfix.formats.source import LOCAL, Store
from ckptfix.formats.source.durable import writable
from ckptfix.formats.source.interface import ReadPlan
from ckptfix.model.checkpoint import Discovery
from ckptfix.model.discover import targets
from ckptfix.model.load import load_checkpoint
from ckptfix.records import Record, replace
from ckptfix.repair.actions.interface import Fault
from ckptfix.repair.actions.optimizer_lr import NOT_IN_PLACE
from ckptfix.repair.apply import ApplyResult, Status, apply_plan
from ckptfix.repair.plan import RepairPlan, plan_repair

__all__ = ["CheckpointOutcome", "RepairOutcome", "repair_checkpoint", "repair_path"]


def _read_plan(store: Store) -> ReadPlan | None:
    """What a store that fetches ahead (object storage) is told the readers will read."""
    if not store.remote:
        return None
    from ckptfix.formats.prefetch import TORCH_READS  # noqa: PLC0415 - object storage only

    return TORCH_READS


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


def repair_checkpoint(report: CheckpointReport, opts: Options, dry_run: bool = False, recreate: bool = False,
                      fault: Fault | None = None, optimizer_lr: bool = False,
                      store: Store = LOCAL) -> CheckpointOutcome:
    """Plan the repair of one analysed checkpoint and (unless ``dry_run``) apply it through ``store``'s writer."""
    target = writable(store)
    plan = plan_repair(report, opts, recreate, optimizer_lr, target)
    if dry_run:
        status: Status = "dry-run" if plan.actions else ("refused" if plan.refusals else "nothing")
        return CheckpointOutcome(plan, ApplyResult(plan.checkpoint, status), report, plan.exit_code_if_not_applied)
    result = apply_plan(plan, fault, target)
    after = report
    if result.status in ("applied", "failed"):
        after = analyse(load_checkpoint(plan.checkpoint, store=store), opts)
    # after a repair, a step disagreement that --step settled does not count
    code = exit_code(after.findings, opts.strict, frozenset({"CKF010"}) if opts.step is not None else frozenset())
    failed = FINDINGS if result.status in ("failed", "locked") else OK
    code = worst([code, failed, *(r.exit_code for r in plan.refusals)])
    return CheckpointOutcome(plan, result, after, code)


def repair_path(path: Path, opts: Options = Options(), latest_only: bool = False, dry_run: bool = False,
                recreate: bool = False, fault: Fault | None = None, optimizer_lr: bool = False,
                store: Store = LOCAL) -> RepairOutcome:
    """Repair every checkpoint under ``path`` (or only the latest); ``UsageError`` for a bad PATH, and for
    ``--optimizer-lr`` where the store cannot patch a file in place (object storage), before anything is read."""
    if optimizer_lr and not writable(store).patches_in_place:
        raise UsageError(NOT_IN_PLACE)
    opts = prepare_options(opts)
    disc = discover_for(path, opts, store)
    todo = targets(disc, latest_only)
    reports: list[CheckpointReport] = store.load_together(todo, lambda ck: inspect_one(ck, opts, store, disc),
                                                          _read_plan(store))
    reports, opts = with_installed_release(reports, opts, store, disc)
    reports = settle_processes(reports, disc, opts, store)
    items = []
    for report in reports:
        from_run = report.processes.from_run if report.processes is not None else None
        ck_opts = replace(opts, run_processes=from_run) if from_run else opts
        items.append(repair_checkpoint(report, ck_opts, dry_run, recreate, fault, optimizer_lr, store))
    code = worst((i.exit_code for i in items), NOTHING_TO_RESUME)
    return RepairOutcome(disc, tuple(items), dry_run, code)
