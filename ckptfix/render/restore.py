"""Rendering of ``ckptfix restore``: what was put back, from which backup; ``--list``; ``--prune``; and the
``--json`` documents of the three (``docs/json.md``).

Everything printed about a backup comes from validated fields (file and backup names that match what
repair writes, UTC times, states) or from ckptfix's own messages, which show any other value escaped
(``text.shown``): no text of a manifest reaches the terminal as it is.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ckptfix.api.restore_results import list_result, prune_result, restore_result
from ckptfix.model.leftovers import WORK_DIR
from ckptfix.render.console import closing
from ckptfix.render.json_doc import dumps
from ckptfix.render.next_steps import quote
from ckptfix.repair.restore import (
    Backup,
    CheckpointBackups,
    FileCheck,
    ListOutcome,
    PruneOutcome,
    RestoreOutcome,
    RestoreResult,
)

__all__ = ["list_document", "prune_document", "render_backups", "render_prune", "render_restore", "restore_document"]

_DONE = {"rewrite": "rewritten", "create": "created", "patch": "patched"}
_STATUS = {
    "restored": ("restored", "green"),
    "already": ("already the original", "green"),
    "dry-run": ("dry run: nothing written", "yellow"),
    "refused": ("refused", "red"),
    "unreadable": ("refused: the backup or a file cannot be used safely", "red"),
    "failed": ("FAILED", "bold red"),
    "locked": ("locked: nothing written", "red"),
    "none": ("no backup", "dim"),
}
#: A status in the closing line's counts ("1 restored, 1 refused").
_SUMMARY = {"dry-run": "to restore (dry run: nothing written)", "unreadable": "refused (exit 3)",
            "already": "already the original", "failed": "FAILED", "locked": "locked"}


def _how(c: FileCheck) -> str:
    if c.kind == "patch":
        return "its patched lr bytes put back"
    if c.created:
        return "removed (it did not exist before the repair)"
    return "the original copied back from the backup"


def _where(ck: Path, b: Backup) -> str:
    return f"{ck.name}/{WORK_DIR}/{b.name}"


def _file_line(r: RestoreResult, c: FileCheck) -> Text:
    if c.file in r.restored:
        return Text(_how(c) + ("" if c.created else "; its SHA-256 is the original's"), style="green")
    if r.status == "dry-run" and c.state == "repaired":
        return Text(f"as repaired: would be restored ({_how(c)})", style="yellow")
    if c.state == "original":
        return Text("the original (nothing to do)", style="green")
    if c.state == "repaired":
        return Text("as the repair left it", style="yellow")
    if c.state == "unsafe":
        return Text(f"{c.why}", style="red")
    return Text(f"changed since the repair: {c.why}", style="red")


def _result(console: Console, r: RestoreResult) -> None:
    label, style = _STATUS[r.status]
    head = Text(f"{r.checkpoint}: ")
    if r.status in ("none", "already") and r.error:  # no backup, or every one restored before
        head.append(f"nothing to restore: {r.error}", style="green")
        console.print(head)
        return
    head.append(label, style=style)
    if r.backup is not None:
        head.append(f" ({'from' if r.status not in ('refused', 'unreadable') else 'backup'} {_where(r.checkpoint, r.backup)})")
    console.print(head)
    if r.files:
        t = Table.grid(padding=(0, 2))
        t.add_column(no_wrap=True)
        t.add_column(overflow="fold")
        for c in r.files:
            t.add_row(f"  {c.file}", _file_line(r, c))
        console.print(t)
    if r.error:
        console.print(Text(f"  {r.error}", style="red" if r.exit_code else "dim"))


def render_restore(console: Console, outcome: RestoreOutcome, target: object | None = None, latest: bool = False) -> None:
    if not latest:
        for s in outcome.disc.skipped:
            console.print(Text(f"skipped {s.path}: {s.reason}", style="dim"))
    shown_any = False
    for r in outcome.items:
        if r.status == "none" and not outcome.disc.is_single:
            continue  # an output folder's checkpoints that were never repaired
        _result(console, r)
        shown_any = True
    where_name = target if target is not None else outcome.disc.root
    if not shown_any:
        console.print(Text(f"{where_name}: no ckptfix backup ({WORK_DIR}/backup-*) in any checkpoint", style="green"))
    counts: dict[str, int] = {}
    for r in outcome.items:
        if r.status != "none":
            counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {_SUMMARY.get(s, s)}" for s, n in counts.items())
    if outcome.nothing_to_restore:
        summary = "nothing to restore"
    where = quote(where_name) + (" --latest" if latest else "")
    command = None
    if counts.get("restored"):
        command = f"ckptfix inspect {where}"  # the state as it was before the repair
    elif counts.get("refused") or counts.get("unreadable"):
        command = f"ckptfix restore {where} --list"
    elif counts.get("dry-run"):
        command = f"ckptfix restore {where}"
    closing(console, f"{where_name}: {summary or 'nothing restored'}; exit {outcome.exit_code}", command, "nothing to do")


def _files(b: Backup) -> str:
    return ", ".join(f"{e.file} ({_DONE[e.kind]})" for e in b.entries)


def _next_note(item: CheckpointBackups) -> str:
    states = {c.state for c in item.last}
    if states == {"repaired"}:
        return "the last repair: ckptfix restore undoes it"
    if states & {"changed", "unsafe"}:
        return "the last repair, but a file changed since: restore refuses"
    if states == {"original"}:
        return "the last repair, already undone by hand"
    return "the last repair, partly undone"


def _backup_line(item: CheckpointBackups, b: Backup) -> Text:
    if b.problem:
        return Text(f"refused: {b.problem}", style="red")
    if b.incomplete:
        return Text("incomplete: a repair stopped before it changed anything (repair removes it)", style="dim")
    if b.restored:
        return Text(f"{_files(b)}; restored {b.restored}", style="dim")
    if b is item.next:
        return Text(f"{_files(b)}; {_next_note(item)}", style="yellow")
    return Text(f"{_files(b)}; an earlier repair", style="dim")


def render_backups(console: Console, outcome: ListOutcome, target: object | None = None) -> None:
    """``restore --list``: every backup of each checkpoint, newest first, the one ``restore`` would undo marked."""
    total = 0
    for item in outcome.items:
        ck = item.checkpoint
        if item.problem is not None:
            console.print(Text(f"{ck}: {item.problem}", style="red"))
            continue
        if not item.backups:
            continue
        total += len(item.backups)
        n = len(item.backups)
        console.print(Text(f"{ck}: {n} backup{'s' if n != 1 else ''} in {ck.name}/{WORK_DIR}", style="bold"))
        t = Table.grid(padding=(0, 2))
        t.add_column(no_wrap=True)
        t.add_column(overflow="fold")
        for b in reversed(item.backups):  # newest first: the one restore undoes comes first
            t.add_row(f"  {b.name}", _backup_line(item, b))
        console.print(t)
    if not total and not any(i.problem for i in outcome.items):
        where = target if target is not None else outcome.disc.root
        console.print(Text(f"{where}: no ckptfix backup ({WORK_DIR}/backup-*): nothing to restore", style="green"))


def render_prune(console: Console, outcome: PruneOutcome, target: object | None = None) -> None:
    """``restore --prune``: what was removed (or would be), kept, and left alone, per checkpoint."""
    verb = "would remove" if outcome.dry_run else "removed"
    for r in outcome.items:
        if r.status == "nothing" and not r.kept and not r.left:
            continue  # never repaired
        head = Text(f"{r.checkpoint}: ")
        if r.removed:
            head.append(f"{verb} {', '.join(r.removed)}", style="yellow" if outcome.dry_run else "green")
        elif r.status in ("nothing", "pruned", "dry-run"):
            head.append(f"nothing to remove (keeping the {outcome.keep} newest)", style="green")
        else:
            head.append(r.status, style="red")
        if r.kept:
            head.append(f"; kept {', '.join(r.kept)}")
        console.print(head)
        for name, why in r.left:
            console.print(Text(f"  left alone: {name}: {why}", style="dim"))
        if r.error:
            console.print(Text(f"  {r.error}", style="red"))
    n = sum(len(r.removed) for r in outcome.items)
    where = target if target is not None else outcome.disc.root
    what = f"{n} backup{'s' if n != 1 else ''} " + ("to remove (dry run: nothing written)" if outcome.dry_run else "removed")
    command = f"ckptfix restore {quote(where)} --prune --keep {outcome.keep}" if outcome.dry_run and n else None
    closing(console, f"{where}: {what}; exit {outcome.exit_code}", command, "nothing to do")


# --- --json: the documents of the result model (api/results.py) ----------------------------------------


def restore_document(outcome: RestoreOutcome) -> str:
    return dumps(restore_result(outcome))


def list_document(outcome: ListOutcome) -> str:
    return dumps(list_result(outcome))


def prune_document(outcome: PruneOutcome) -> str:
    return dumps(prune_result(outcome))
