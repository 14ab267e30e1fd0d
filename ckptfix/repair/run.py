"""Discover → analyse → plan → (apply → re-analyse): the whole ``repair`` pipeline for one PATH."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ckptfix.analysis.checks import analyse
from ckptfix.analysis.report import CheckpointReport, Options
from ckptfix.model.checkpoint import Discovery
from ckptfix.model.discover import discover
from ckptfix.model.load import load_checkpoint
from ckptfix.repair.apply import ApplyResult, Fault, apply_plan
from ckptfix.repair.plan import RepairPlan, plan_repair


@dataclass(frozen=True)
class CheckpointOutcome:
    plan: RepairPlan
    result: ApplyResult
    after: CheckpointReport  # the analysis after the repair (the original one when nothing was written)
    exit_code: int


@dataclass(frozen=True)
class RepairOutcome:
    disc: Discovery
    items: tuple[CheckpointOutcome, ...]
    dry_run: bool
    exit_code: int


def exit_after(report: CheckpointReport, opts: Options) -> int:
    """Exit code of a checkpoint after repair: its findings, minus a step disagreement --step resolved."""
    sev = {f.severity for f in report.findings if not (f.code == "CKF010" and opts.step is not None)}
    if "fatal" in sev:
        return 3
    if "error" in sev or (opts.strict and "warning" in sev):
        return 1
    return 0


def repair_checkpoint(report: CheckpointReport, opts: Options, dry_run: bool = False, recreate: bool = False,
                      fault: Fault | None = None, optimizer_lr: bool = False) -> CheckpointOutcome:
    plan = plan_repair(report, opts, recreate, optimizer_lr)
    if dry_run:
        status = "dry-run" if plan.to_write or plan.to_patch else ("refused" if plan.refusals else "nothing")
        result = ApplyResult(plan.checkpoint, status)
        code = plan.exit_code_if_not_applied
        return CheckpointOutcome(plan, result, report, code)
    result = apply_plan(plan, fault)
    after = report
    if result.status in ("applied", "failed"):
        after = analyse(load_checkpoint(plan.checkpoint), opts)
    code = exit_after(after, opts)
    if plan.refusals:
        code = max([code] + [r.exit_code for r in plan.refusals])
    if result.status in ("failed", "locked"):
        code = max(code, 1)
    return CheckpointOutcome(plan, result, after, code)


def repair_path(path: Path, opts: Options = Options(), latest_only: bool = False, dry_run: bool = False,
                recreate: bool = False, fault: Fault | None = None, optimizer_lr: bool = False) -> RepairOutcome:
    """Repair every checkpoint under ``path`` (or only the latest); ``UsageError`` for a bad PATH."""
    disc = discover(path)
    targets = disc.checkpoints
    if latest_only:
        targets = (disc.latest,) if disc.latest else ()
    items = []
    for ck_path in targets:
        report = analyse(load_checkpoint(ck_path), opts)
        items.append(repair_checkpoint(report, opts, dry_run, recreate, fault, optimizer_lr))
    code = max((i.exit_code for i in items), default=0)
    return RepairOutcome(disc, tuple(items), dry_run, code)
