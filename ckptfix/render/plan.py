"""Rendering of repair plans and their results: Rich for people, one JSON document for machines. Both come
from the same records (``api/results.py``: ``RepairResult``): each checkpoint's panel is drawn from the
``CheckpointRepair`` that ``--json`` prints; the closing line's next command from the findings."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ckptfix.analysis.report import Options
from ckptfix.analysis.unchecked import unchecked_note
from ckptfix.api.results import ChangeResult, CheckpointRepair, FindingResult, repair_result
from ckptfix.render.console import PROFILE_WORDS as _PROFILE_WORDS
from ckptfix.render.console import SEVERITY_STYLE as _SEV_STYLE
from ckptfix.render.console import closing, last_part
from ckptfix.render.json_doc import dumps
from ckptfix.render.next_steps import next_command, quote, repair_words
from ckptfix.render.values import short, source_words
from ckptfix.repair.run import RepairOutcome

_ACTION_STYLE = {"rewrite": "yellow", "create": "yellow", "nothing": "green", "refuse": "red"}
_STATUS_TEXT = {
    "applied": ("repaired", "green"),
    "nothing": ("nothing to do", "green"),
    "refused": ("refused: nothing written", "red"),
    "dry-run": ("dry run: nothing written", "yellow"),
    "failed": ("FAILED", "bold red"),
    "locked": ("locked: nothing written", "red"),
}


def _value(v: Any, absent: bool) -> str:
    return "(absent)" if absent else short(v, 40)


def _changes_table(changes: tuple[ChangeResult, ...]) -> Table:
    t = Table(show_edge=False, pad_edge=False, box=box.SIMPLE_HEAD)
    t.add_column("file", no_wrap=True)
    t.add_column("key", no_wrap=True)
    t.add_column("old", overflow="fold")
    t.add_column("new", overflow="fold")
    t.add_column("fixes", overflow="fold")
    for c in changes:
        t.add_row(last_part(c.file), c.key, _value(c.old, c.old_absent), Text(_value(c.new, c.new_absent), style="cyan"),
                  ", ".join(c.fixes) or "—")
    return t


def _title(item: CheckpointRepair, width: int = 80) -> Text:
    to_write = [f for f in item.files if f.action in ("rewrite", "create")]
    to_patch = [f for f in item.files if f.action == "patch"]
    files = ", ".join(last_part(f.file) for f in to_write)
    verbs = " and ".join(sorted({f.action for f in to_write}))
    written = "; ".join(([f"{verbs} {files}"] if to_write else [])
                        + ([f"patch {', '.join(last_part(f.file) for f in to_patch)}"] if to_patch else []))
    what = {"rewrite": written, "create": written, "nothing": "nothing to change", "refuse": "refused"}[item.action]
    where = item.path
    if len(where) + len(what) + 8 > width:  # a panel title is cut to its width: the name alone then
        where = item.name
    t = Text(f"{where}: ")
    t.append(what, style=_ACTION_STYLE[item.action])
    return t


def _finding_lines(findings: list[FindingResult]) -> Table:
    t = Table.grid(padding=(0, 1))
    t.add_column(no_wrap=True)
    t.add_column(no_wrap=True)
    t.add_column(overflow="fold")
    for f in findings:
        text = Text(f.message)
        text.append("\nfix: ", style="bold")
        text.append(f.fix)
        t.add_row(f.code, Text(f.severity, style=_SEV_STYLE[f.severity]), text)
    return t


def _status_lines(item: CheckpointRepair) -> list[Text]:
    """What became of the plan: repaired (what was written, how it was checked, where the backup is), or why not."""
    label, style = _STATUS_TEXT[item.status]
    line = Text(label, style=style)
    if item.status != "applied":
        if item.error and item.status != "refused":
            line.append(f": {item.error}")
            if item.status == "failed" and item.kept_foreign:
                line.append("; the other process's version was kept (the original is in the backup, if one was made)")
            elif item.status == "failed":
                line.append("; original restored" if item.restored else "; RESTORE FAILED, see the backup folder")
                if item.backup:
                    line.append(f" (backup: {item.backup})")
        return [line]
    checked = "ckptfix's reader and torch.load(weights_only=True)" if item.torch_checked else (
        "ckptfix's reader (torch is not installed: pip install 'ckptfix[torch]' adds a check with torch.load)")
    if all(p.endswith(".json") for p in item.written):
        checked = "a fresh read of each"  # training_state*.json: the one value changed, every other byte kept
    line.append(f": {', '.join(last_part(p) for p in item.written)} written and verified with {checked}")
    # named from the checkpoint (short: it does not fold), for a local path or an object storage one
    where = f"{item.name}/{'/'.join(item.backup.rstrip('/').rsplit('/', 2)[-2:])}" if item.backup else None
    backup = Text(f"backup: {where}", style="dim")
    for p in (last_part(f.file) for f in item.files if f.action == "patch"):
        backup.append(f" ({p}: only its lr bytes changed; the backup holds the patch record {p}.patch.json, not a "
                      "copy)", style="dim")
    return [line, backup]


def outcome_panel(item: CheckpointRepair, width: int = 80) -> Panel:
    """One checkpoint's repair, from the record ``repair --json`` prints for it."""
    parts: list[Any] = []
    steps, n = item.steps, item.num_processes
    if steps.chosen is not None and n.value is not None:
        source = {"folder name": "the folder name", "optimizer": "the optimizer's step count"}.get(
            steps.source or "", steps.source)
        sine = not all(fp.family is not None for fp in item.profile_before) or not item.profile_before  # a family: k × step
        parts.append(Text(
            f"step {steps.chosen} from {source}; N = {n.value}, {source_words(n.source)}"
            + (f"; last_epoch = N × step = {n.value * steps.chosen}" if sine else ""), style="dim"))
    for fp in item.profile_before:
        written_by = "cannot be read safely" if fp.profile is None else (
            f"{fp.family}, checked by its family" if fp.family is not None else
            f"written by {_PROFILE_WORDS.get(fp.profile, fp.profile)} (profile {fp.profile})")
        parts.append(Text(f"{last_part(fp.file)}: {written_by}", style="dim"))
    if item.changes and not item.refusals:
        parts.append(_changes_table(item.changes))
    for r in item.refusals:
        parts.append(Text(f"refused (exit {r.exit_code}): {r.reason}", style="red"))
    for note in item.notes:
        parts.append(Text(f"note: {note}", style="yellow"))
    parts.extend(_status_lines(item))
    for c in item.cleaned:
        parts.append(Text(f"cleaned: {c}", style="dim"))
    remaining = [f for f in item.findings_after if f.severity in ("error", "fatal", "warning")]
    if remaining and item.status not in ("dry-run", "refused"):
        parts.append(Text("still reported:", style="bold"))
        parts.append(_finding_lines(remaining))
    return Panel(Group(*parts), title=_title(item, width), title_align="left", expand=False)


def _next(outcome: RepairOutcome, target: object, latest: bool, opts: Options) -> str | None:
    """The command to run after this repair (None: nothing left to do)."""
    own = repair_words(target, latest, opts)
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
    result = repair_result(outcome)  # what --json prints: each checkpoint's panel is rendered from it
    calm = [i for i in result.checkpoints if not outcome.disc.is_single and i.status == "nothing"
            and not i.notes and i.exit_code == 0 and not i.cleaned]
    if calm:  # an output folder's consistent checkpoints: one line for all of them
        names = [i.name for i in calm]
        verdicts = {str(o.plan.checkpoint): o.after.verdict for o in outcome.items}
        word = "consistent" if all(verdicts.get(c.path) == "consistent" for c in calm) else "consistent or unchecked"
        console.print(Text(f"{result.root}: nothing to do in {len(calm)} {word} checkpoint{'s' if len(calm) != 1 else ''}: "
                           + (", ".join(names) if len(names) <= 4 else f"{names[0]} … {names[-1]}"), style="green"))
    for item in result.checkpoints:
        if item not in calm:
            console.print(outcome_panel(item, console.width))
    if not outcome.items:
        console.print(Text(f"nothing to resume: no checkpoint-N folder in {outcome.disc.root} (exit 4)", style="dim"))
    tally: dict[str, int] = {}
    for c in result.checkpoints:
        tally[c.status] = tally.get(c.status, 0) + 1
    summary = ", ".join(f"{n} {_STATUS_TEXT[s][0].split(':')[0]}" for s, n in tally.items())
    command = _next(outcome, target if target is not None else outcome.disc.root, latest, opts)
    applied = [i for i in outcome.items if i.result.status == "applied"]
    says, also = "nothing to fix: safe to resume", None
    if applied:
        undo = quote(applied[0].plan.checkpoint) if len(applied) == 1 else quote(target or outcome.disc.root)
        says, also = "nothing left to fix: safe to resume", f"to undo the repair: ckptfix restore {undo}"
    notes = [(o, note) for o in outcome.items if o.after.verdict == "unchecked"
             and (note := unchecked_note(o.after)) is not None]
    if notes:  # nothing to repair, nothing checked either: never "safe to resume"
        last, note = notes[-1]
        says = (f"nothing to repair; not checked: {note}" if len(outcome.items) == 1 else
                f"{len(notes)} checkpoint(s) not checked; {last.plan.checkpoint.name}: {note}")
    where = target if target is not None else outcome.disc.root
    first = _wait_for_lock(outcome)
    if first is not None:  # the same repair, once the other has finished (it then says what is left, if anything)
        command = " ".join(repair_words(where, latest, opts))
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
