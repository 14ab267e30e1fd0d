"""Rendering of repair plans and their results: Rich for people, one JSON document for machines."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ckptfix import __version__
from ckptfix.exitcodes import status_of
from ckptfix.render.json_doc import SCHEMA_VERSION
from ckptfix.render.values import jsonable, short
from ckptfix.repair.actions.interface import ABSENT, Change
from ckptfix.repair.run import CheckpointOutcome, RepairOutcome

_ACTION_STYLE = {"rewrite": "yellow", "create": "yellow", "nothing": "green", "refuse": "red"}
_STATUS_TEXT = {
    "applied": ("repaired", "green"),
    "nothing": ("nothing to do", "green"),
    "refused": ("refused: nothing written", "red"),
    "dry-run": ("dry run: nothing written", "yellow"),
    "failed": ("FAILED", "bold red"),
    "locked": ("locked: nothing written", "red"),
}


def _value(v: Any) -> str:
    return "(absent)" if v is ABSENT else short(v, 40)


def _json_value(v: Any) -> Any:
    return None if v is ABSENT else jsonable(v)


def _changes_table(changes: tuple[Change, ...]) -> Table:
    t = Table(show_edge=False, pad_edge=False)
    for col in ("file", "key", "old", "new", "fixes"):
        t.add_column(col, overflow="fold")
    for c in changes:
        t.add_row(c.file.name, c.key, _value(c.old), Text(_value(c.new), style="cyan"), ", ".join(c.fixes) or "—")
    return t


def _title(item: CheckpointOutcome) -> Text:
    plan = item.plan
    action = plan.action
    files = ", ".join(a.path.name for a in plan.to_write)
    verbs = " and ".join(sorted({a.kind for a in plan.to_write}))
    written = "; ".join(([f"{verbs} {files}"] if plan.to_write else [])
                        + ([f"patch {', '.join(p.path.name for p in plan.to_patch)}"] if plan.to_patch else []))
    what = {"rewrite": written, "create": written, "nothing": "nothing to change", "refuse": "refuse"}[action]
    t = Text(f"{plan.checkpoint}  ")
    t.append(what, style=_ACTION_STYLE[action])
    return t


def outcome_panel(item: CheckpointOutcome) -> Panel:
    plan, res = item.plan, item.result
    parts: list[Any] = []
    if plan.step is not None and plan.num_processes is not None:
        parts.append(Text(
            f"step {plan.step} (from {plan.step_source}), N = {plan.num_processes} ({plan.num_processes_source}): "
            f"last_epoch = {plan.num_processes * plan.step}", style="dim"))
    profiles = [f"{sr.file.path.name}: {'unreadable' if sr.file.problem else sr.profile}" for sr in plan.report.schedulers]
    if profiles:
        parts.append(Text("profile " + "; ".join(profiles), style="dim"))
    if plan.changes and not plan.refusals:
        parts.append(_changes_table(plan.changes))
    for r in plan.refusals:
        parts.append(Text(f"refused (exit {r.exit_code}): {r.reason}", style="red"))
    for n in plan.notes:
        parts.append(Text(f"note: {n}", style="yellow"))
    label, style = _STATUS_TEXT[res.status]
    line = Text(label, style=style)
    if res.status == "applied":
        torch_files = [p.name for p in res.written if not p.name.endswith(".json")]
        how = " (torch files with ckptfix's reader and torch.load(weights_only=True))" if torch_files else ""
        line.append(f": {', '.join(p.name for p in res.written)} written and verified{how}; original kept in "
                    f"{res.backup_dir}")
        for p in plan.to_patch:
            line.append(f" ({p.path.name}: only its lr bytes changed; the backup holds the patch record "
                        f"{p.path.name}.patch.json, not a copy)")
    elif res.error and res.status != "refused":
        line.append(f": {res.error}")
        if res.status == "failed" and res.kept_foreign:
            line.append("; the other process's version was kept (the original is in the backup, if one was made)")
        elif res.status == "failed":
            line.append("; original restored" if res.restored else "; RESTORE FAILED, see the backup folder")
            if res.backup_dir:
                line.append(f" (backup: {res.backup_dir})")
    parts.append(line)
    for c in res.cleaned:
        parts.append(Text(f"cleaned: {c}", style="dim"))
    remaining = [f for f in item.after.findings if f.severity in ("error", "fatal", "warning")]
    if remaining and res.status != "dry-run":
        parts.append(Text("still reported: " + "; ".join(f"{f.code} {f.message}" for f in remaining), style="dim"))
    return Panel(Group(*parts), title=_title(item), title_align="left", expand=False)


def render_repair(console: Console, outcome: RepairOutcome) -> None:
    for s in outcome.disc.skipped:
        console.print(Text(f"skipped {s.path}: {s.reason}", style="dim"))
    for item in outcome.items:
        quiet = (not outcome.disc.is_single and item.result.status == "nothing" and not item.plan.notes
                 and item.exit_code == 0 and not item.result.cleaned)
        if quiet:  # an output folder's consistent checkpoints: one line each
            console.print(Text(f"{item.plan.checkpoint}: nothing to do", style="green"))
        else:
            console.print(outcome_panel(item))
    if not outcome.items:
        console.print(Text(f"nothing to resume: no checkpoint-N folder in {outcome.disc.root} (exit 4)", style="dim"))
    counts: dict[str, int] = {}
    for item in outcome.items:
        counts[item.result.status] = counts.get(item.result.status, 0) + 1
    summary = ", ".join(f"{n} {_STATUS_TEXT[s][0].split(':')[0]}" for s, n in counts.items())
    console.print(Text(f"{summary or 'nothing checked'}; exit {outcome.exit_code}", style="bold"))


def outcome_doc(item: CheckpointOutcome) -> dict[str, Any]:
    plan, res = item.plan, item.result
    s = plan.report.steps
    return {
        "path": str(plan.checkpoint),
        "name": plan.checkpoint.name,
        "action": plan.action,
        "status": res.status,
        "exit_code": item.exit_code,
        "steps": {"folder": s.folder, "training_state": s.training_state, "optimizer": s.optimizer,
                  "chosen": plan.step, "source": plan.step_source, "agree": s.agree},
        "num_processes": {"value": plan.num_processes, "source": plan.num_processes_source},
        "files": [{"file": str(a.path), "action": a.kind} for a in plan.actions]
        + [{"file": str(p), "action": "nothing"} for p in plan.untouched],
        "changes": [{"file": str(c.file), "key": c.key, "old": _json_value(c.old), "new": _json_value(c.new),
                     "old_absent": c.old is ABSENT, "new_absent": c.new is ABSENT, "fixes": list(c.fixes)}
                    for c in plan.changes],
        "refusals": [{"file": str(r.file) if r.file else None, "reason": r.reason, "exit_code": r.exit_code}
                     for r in plan.refusals],
        "notes": list(plan.notes),
        "profile_before": [{"file": str(sr.file.path), "profile": sr.profile} for sr in plan.report.schedulers],
        "profile_after": [{"file": str(sr.file.path), "profile": sr.profile} for sr in item.after.schedulers],
        "backup": str(res.backup_dir) if res.backup_dir else None,
        "written": [str(p) for p in res.written],
        "error": res.error,
        "restored": res.restored,
        "kept_foreign": res.kept_foreign,
        "cleaned": list(res.cleaned),
        "findings_before": [jsonable(f.to_json()) for f in plan.report.findings],
        "findings_after": [jsonable(f.to_json()) for f in item.after.findings],
    }


def repair_document(outcome: RepairOutcome) -> str:
    disc = outcome.disc
    doc = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "ckptfix", "version": __version__, "command": "repair"},
        "root": str(disc.root),
        "latest": str(disc.latest) if disc.latest else None,
        "dry_run": outcome.dry_run,
        "exit_code": outcome.exit_code,
        "status": status_of(outcome.exit_code),
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in disc.skipped],
        "checkpoints": [outcome_doc(i) for i in outcome.items],
    }
    return json.dumps(doc, indent=2, allow_nan=False)
