"""Rendering of repair plans and their results: Rich for people, one JSON document for machines
(``api/results.py``)."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ckptfix.analysis.findings import Finding
from ckptfix.analysis.report import Options
from ckptfix.api.results import repair_result
from ckptfix.render.console import PROFILE_WORDS as _PROFILE_WORDS
from ckptfix.render.console import SEVERITY_STYLE as _SEV_STYLE
from ckptfix.render.console import closing
from ckptfix.render.json_doc import dumps
from ckptfix.render.next_steps import given_flags, next_command, quote
from ckptfix.render.values import short, source_words
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
    t = Table(show_edge=False, pad_edge=False, box=box.SIMPLE_HEAD)
    t.add_column("file", no_wrap=True)
    t.add_column("key", no_wrap=True)
    t.add_column("old", overflow="fold")
    t.add_column("new", overflow="fold")
    t.add_column("fixes", overflow="fold")
    for c in changes:
        t.add_row(c.file.name, c.key, _value(c.old), Text(_value(c.new), style="cyan"), ", ".join(c.fixes) or "—")
    return t


def _title(item: CheckpointOutcome, width: int = 80) -> Text:
    plan = item.plan
    action = plan.action
    files = ", ".join(a.path.name for a in plan.to_write)
    verbs = " and ".join(sorted({a.kind for a in plan.to_write}))
    written = "; ".join(([f"{verbs} {files}"] if plan.to_write else [])
                        + ([f"patch {', '.join(p.path.name for p in plan.to_patch)}"] if plan.to_patch else []))
    what = {"rewrite": written, "create": written, "nothing": "nothing to change", "refuse": "refused"}[action]
    where = str(plan.checkpoint)
    if len(where) + len(what) + 8 > width:  # a panel title is cut to its width: the name alone then
        where = plan.checkpoint.name
    t = Text(f"{where}: ")
    t.append(what, style=_ACTION_STYLE[action])
    return t


def _finding_lines(findings: list[Finding]) -> Table:
    t = Table.grid(padding=(0, 1))
    t.add_column(no_wrap=True)
    t.add_column(no_wrap=True)
    t.add_column(overflow="fold")
    for f in findings:
        text = Text(f.message)
        text.append("\nfix: ", style="bold")
        text.append(f.rule.fix)
        t.add_row(f.code, Text(f.severity, style=_SEV_STYLE[f.severity]), text)
    return t


def outcome_panel(item: CheckpointOutcome, width: int = 80) -> Panel:
    plan, res = item.plan, item.result
    parts: list[Any] = []
    if plan.step is not None and plan.num_processes is not None:
        source = {"folder name": "the folder name", "optimizer": "the optimizer's step count"}.get(
            plan.step_source or "", plan.step_source)
        parts.append(Text(
            f"step {plan.step} from {source}; N = {plan.num_processes}, {source_words(plan.num_processes_source)}; "
            f"last_epoch = N × step = {plan.num_processes * plan.step}", style="dim"))
    for sr in plan.report.schedulers:
        written_by = "cannot be read safely" if sr.file.problem else (
            f"written by {_PROFILE_WORDS.get(sr.profile or '', sr.profile)} (profile {sr.profile})")
        parts.append(Text(f"{sr.file.path.name}: {written_by}", style="dim"))
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
        if all(p.name.endswith(".json") for p in res.written):
            checked = "a fresh read of each"  # training_state*.json: the one value changed, every other byte kept
        line.append(f": {', '.join(p.name for p in res.written)} written and verified with {checked}")
        parts.append(line)
        # named from the checkpoint (short: it does not fold), for a local path or an object storage one
        where = f"{plan.checkpoint.name}/{res.backup_dir.parent.name}/{res.backup_dir.name}" if res.backup_dir else None
        backup = Text(f"backup: {where}", style="dim")
        for p in plan.to_patch:
            backup.append(f" ({p.path.name}: only its lr bytes changed; the backup holds the patch record "
                          f"{p.path.name}.patch.json, not a copy)", style="dim")
        parts.append(backup)
    else:
        if res.error and res.status != "refused":
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
    if remaining and res.status not in ("dry-run", "refused"):
        parts.append(Text("still reported:", style="bold"))
        parts.append(_finding_lines(remaining))
    return Panel(Group(*parts), title=_title(item, width), title_align="left", expand=False)


def _next(outcome: RepairOutcome, target: object, latest: bool, opts: Options) -> str | None:
    """The command to run after this repair (None: nothing left to do)."""
    own = ["ckptfix", "repair", quote(target)] + (["--latest"] if latest else []) + given_flags(opts)
    if outcome.dry_run:
        if any(i.plan.actions for i in outcome.items):
            return " ".join(own)  # the same, applied
        remaining = [f for i in outcome.items for f in i.plan.report.findings if i.plan.refusals]
    else:
        remaining = [f for i in outcome.items for f in i.after.findings]
    command = next_command(remaining, target, latest, opts, dry_run=False)
    if command is not None and command == " ".join(own):  # what was just run: it cannot fix the rest
        first = next(f for f in remaining if f.severity != "info")
        return f"ckptfix explain {first.code}"
    return command


def render_repair(console: Console, outcome: RepairOutcome, target: object | None = None, latest: bool = False,
                  opts: Options = Options()) -> None:
    if not latest:
        for s in outcome.disc.skipped:
            console.print(Text(f"skipped {s.path}: {s.reason}", style="dim"))
    calm = [i for i in outcome.items if not outcome.disc.is_single and i.result.status == "nothing"
            and not i.plan.notes and i.exit_code == 0 and not i.result.cleaned]
    if calm:  # an output folder's consistent checkpoints: one line for all of them
        names = [i.plan.checkpoint.name for i in calm]
        console.print(Text(f"{outcome.disc.root}: nothing to do in {len(calm)} consistent checkpoint{'s' if len(calm) != 1 else ''}: "
                           + (", ".join(names) if len(names) <= 4 else f"{names[0]} … {names[-1]}"), style="green"))
    for item in outcome.items:
        if item not in calm:
            console.print(outcome_panel(item, console.width))
    if not outcome.items:
        console.print(Text(f"nothing to resume: no checkpoint-N folder in {outcome.disc.root} (exit 4)", style="dim"))
    tally: dict[str, int] = {}
    for item in outcome.items:
        tally[item.result.status] = tally.get(item.result.status, 0) + 1
    summary = ", ".join(f"{n} {_STATUS_TEXT[s][0].split(':')[0]}" for s, n in tally.items())
    command = _next(outcome, target if target is not None else outcome.disc.root, latest, opts)
    applied = [i for i in outcome.items if i.result.status == "applied"]
    says, also = "nothing to fix: safe to resume", None
    if applied:
        undo = quote(applied[0].plan.checkpoint) if len(applied) == 1 else quote(target or outcome.disc.root)
        says, also = "nothing left to fix: safe to resume", f"to undo the repair: ckptfix restore {undo}"
    where = target if target is not None else outcome.disc.root
    first = _wait_for_lock(outcome)
    if first is not None:  # the same repair, once the other has finished (it then says what is left, if anything)
        command = " ".join(["ckptfix", "repair", quote(where)] + (["--latest"] if latest else []) + given_flags(opts))
    closing(console, f"{where}: {summary or 'nothing checked'}; exit {outcome.exit_code}", command, says, also, first)


def _wait_for_lock(outcome: RepairOutcome) -> str | None:
    """What must end before this repair can run: another repair holding a checkpoint's lock (who, from
    the lock), or a lock that holds no owner; None when no checkpoint was locked."""
    locked = [i for i in outcome.items if i.result.status == "locked"]
    if not locked:
        return None
    item = locked[0]
    name = item.plan.checkpoint.name + (f" (and {len(locked) - 1} more)" if len(locked) > 1 else "")
    if item.result.holder is None:
        return f"{name} is locked ({item.result.error}); then run:"
    return f"another repair holds the lock of {name}: {item.result.holder}; when it has finished, run:"


def repair_document(outcome: RepairOutcome) -> str:
    return dumps(repair_result(outcome))
