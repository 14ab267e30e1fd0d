"""The ``--json`` document (schema documented in the README; bump SCHEMA_VERSION on breaking changes)."""

from __future__ import annotations

import json
from typing import Any

from ckptfix import __version__
from ckptfix.analysis.report import CheckpointReport, ResumePreview
from ckptfix.exitcodes import status_of
from ckptfix.model.checkpoint import Discovery
from ckptfix.render.values import SCHEDULER_KEYS, jsonable

SCHEMA_VERSION = 1


def checkpoint_doc(r: CheckpointReport) -> dict[str, Any]:
    ck = r.checkpoint
    s = r.steps
    return {
        "path": str(ck.path),
        "name": ck.name,
        "verdict": r.verdict,
        "exit_code": r.exit_code,
        "layout": ck.layout,
        "steps": {
            "folder": s.folder, "training_state": s.training_state, "optimizer": s.optimizer,
            "epoch_step": s.epoch_step, "chosen": s.chosen, "source": s.source, "agree": s.agree,
        },
        "num_processes": {"value": r.num_processes, "source": r.num_processes_source,
                          "exact": r.processes.exact if r.processes else None,
                          "lower_bound": r.processes.lower_bound if r.processes else None,
                          "candidates": list(r.processes.candidates) if r.processes else [],
                          "why": r.processes.why if r.processes else ""},
        "trainer": trainer_doc(r),
        "target": r.target,
        "resume_preview": [preview_doc(p) for p in r.resume],
        "stock_resume_preview": preview_doc(r.stock) if r.stock is not None else None,
        "optimizers": [
            {
                "file": str(o.path),
                "step": o.step.value if o.step else None,
                "family": o.step.family if o.step else None,
                "step_source": o.step.source if o.step else None,
                "note": o.step.note if o.step else None,
                "schedule_free": o.step.schedule_free if o.step else False,
                "lr": [jsonable(g.lr) for g in o.param_groups],
                "initial_lr": [jsonable(g.initial_lr) for g in o.param_groups],
                "bytes_read": o.bytes_read,
                "size": o.size,
            }
            for o in ck.optimizers
        ],
        "schedulers": [
            {
                "file": str(sr.file.path),
                "format": sr.file.format,
                "profile": sr.profile,
                "scheduler_kind": sr.match.scheduler_kind if sr.match else None,
                "evidence": sr.match.evidence if sr.match else [],
                "values": {k: jsonable(sr.file.state.get(k)) for k in SCHEDULER_KEYS if k in sr.file.state}
                if sr.file.state is not None else None,
                "expected_last_epoch": sr.expected_last_epoch,
                "reference": jsonable(sr.reference.__dict__) if sr.reference else None,
            }
            for sr in r.schedulers
        ],
        "weights": [
            {"file": str(w.path), "tensors": w.tensors, "data_bytes": w.data_bytes} for w in ck.weights
        ],
        "has_guard": ck.has_guard,
        "has_manifest": ck.has_manifest,
        "bytes_read": ck.bytes_read,
        "findings": [jsonable(f.to_json()) for f in r.findings],
    }


def trainer_doc(r: CheckpointReport) -> dict[str, Any] | None:
    c = r.trainer
    if c is None:
        return None
    return {"name": c.trainer, "detected": r.checkpoint.trainer, "source": c.source,
            "releases": [{"label": x.label, "last_epoch_from": x.last_epoch_from, "saves_on": x.saves_on,
                          "step_from": x.step_from, "formula": x.formula, "verified": x.verified,
                          "reads": [{"file": f.name, "required": f.required, "if_missing": f.if_missing} for f in x.reads],
                          "sources": list(x.sources)} for x in c.rules]}


def preview_doc(p: ResumePreview) -> dict[str, Any]:
    return {
        "releases": list(p.rules), "last_epoch_from": p.last_epoch_from, "num_processes": p.num_processes,
        "stored_last_epoch": p.stored_last_epoch, "resumed_last_epoch": p.resumed_last_epoch,
        "true_last_epoch": p.true_last_epoch, "offset_steps": jsonable(p.offset_steps), "runs": p.runs,
        "target": p.target, "ok": p.ok, "first_wrong_step": p.first_wrong, "found": jsonable(p.found),
        "expected": jsonable(p.expected), "scheduler_wrong_step": p.scheduler_wrong,
        "scheduler_found": jsonable(p.scheduler_found), "scheduler_expected": jsonable(p.scheduler_expected),
        "max_diff": jsonable(p.max_diff), "steps_checked": p.scanned,
        "steps": [{"step": s.step, "lr": jsonable(s.lr), "expected": jsonable(s.expected), "ok": s.ok} for s in p.steps],
    }


def document(disc: Discovery, reports: list[CheckpointReport], exit_code: int, command: str) -> str:
    doc = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "ckptfix", "version": __version__, "command": command},
        "root": str(disc.root),
        "latest": str(disc.latest) if disc.latest else None,
        "latest_candidates": [str(p) for p in disc.picks],
        "latest_reason": disc.latest_reason,
        "latest_issue": disc.latest_issue,
        "trainer": disc.trainer,
        "trainer_source": disc.trainer_source,
        "exit_code": exit_code,
        "status": status_of(exit_code),
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in disc.skipped],
        "checkpoints": [checkpoint_doc(r) for r in reports],
    }
    return json.dumps(doc, indent=2, allow_nan=False)


def error_document(command: str, exit_code: int, error: str) -> str:
    """The document ``--json`` prints when no checkpoint was read: usage error, nothing to resume,
    internal error. Same top-level keys as ``document``, no checkpoints, and the error message."""
    doc = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "ckptfix", "version": __version__, "command": command},
        "exit_code": exit_code,
        "status": status_of(exit_code),
        "error": error,
        "checkpoints": [],
    }
    return json.dumps(doc, indent=2, allow_nan=False)
