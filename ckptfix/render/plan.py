"""Rendering of repair plans and their results: Rich for people, one JSON document for machines
(``api/results.py``)."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ckptfix.api.results import repair_result
from ckptfix.render.json_doc import dumps
from ckptfix.render.values import short
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
    if plan.step is not None:
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
        checked = "ckptfix's reader and torch.load(weights_only=True)" if res.torch_checked else (
            "ckptfix's reader (torch is not installed: pip install 'ckptfix[torch]' adds a check with torch.load)")
        line.append(f": {', '.join(p.name for p in res.written)} written and verified with {checked}; "
                    f"original kept in {res.backup_dir}")
        for p in plan.to_patch:
            line.append(f" ({p.path.name}: only its lr bytes changed; the backup holds the patch record "
                        f"{p.path.name}.patch.json, not a copy)")
    elif res.error and res.status != "refused":
        line.append(f": {res.error}")
        if res.status == "failed":
            line.append("; original restored" if res.restored else "; RESTORE FAILED, see the backup folder")
            if res.backup_dir:
                line.append(f" (backup: {res.backup_dir})")
    parts.append(line)
    remaining = [f for f in item.after.findings if f.severity in ("error", "fatal", "warning")]
    if remaining and res.status != "dry-run":
        parts.append(Text("still reported: " + "; ".join(f"{f.code} {f.message}" for f in remaining), style="dim"))
    return Panel(Group(*parts), title=_title(item), title_align="left", expand=False)


def render_repair(console: Console, outcome: RepairOutcome) -> None:
    for s in outcome.disc.skipped:
        console.print(Text(f"skipped {s.path}: {s.reason}", style="dim"))
    for item in outcome.items:
        quiet = not outcome.disc.is_single and item.result.status == "nothing" and not item.plan.notes and item.exit_code == 0
        if quiet:  # an output folder's consistent checkpoints: one line each
            console.print(Text(f"{item.plan.checkpoint}: nothing to do", style="green"))
        else:
            console.print(outcome_panel(item))
    if not outcome.items:
        console.print(Text("no checkpoint to repair", style="dim"))
    counts: dict[str, int] = {}
    for item in outcome.items:
        counts[item.result.status] = counts.get(item.result.status, 0) + 1
    summary = ", ".join(f"{n} {_STATUS_TEXT[s][0].split(':')[0]}" for s, n in counts.items())
    console.print(Text(f"{summary or 'nothing checked'}; exit {outcome.exit_code}", style="bold"))


def repair_document(outcome: RepairOutcome) -> str:
    return dumps(repair_result(outcome))
