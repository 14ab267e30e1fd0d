"""Rendering of ``ckptfix restore``: what was put back, from which backup; and ``--list``."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ckptfix.render.console import closing
from ckptfix.render.next_steps import quote
from ckptfix.repair.restore import Backup, BackupFile, RestoreOutcome, RestoreResult, check_files, list_backups

__all__ = ["render_backups", "render_restore"]

_DONE = {"rewrite": "rewritten", "create": "created", "patch": "patched"}
_STATUS = {
    "restored": ("restored", "green"),
    "already": ("already the original", "green"),
    "dry-run": ("dry run: nothing written", "yellow"),
    "refused": ("refused", "red"),
    "failed": ("FAILED", "bold red"),
    "locked": ("locked: nothing written", "red"),
    "none": ("no backup", "dim"),
}


def _how(f: BackupFile) -> str:
    if f.action == "patch":
        return "its patched lr bytes put back"
    if f.sha256 is None:
        return "removed (it did not exist before the repair)"
    return "the original copied back from the backup"


def _where(ck: Path, b: Backup) -> str:
    return f"{ck.name}/{b.path.parent.name}/{b.name}"


def _result(console: Console, r: RestoreResult) -> None:
    label, style = _STATUS[r.status]
    head = Text(f"{r.checkpoint}: ")
    if r.status == "already" and r.error:  # every backup was restored before
        head.append(f"nothing to restore: {r.error}", style="green")
        console.print(head)
        return
    head.append(label, style=style)
    if r.backup is not None:
        head.append(f" ({'from' if r.status != 'refused' else 'backup'} {_where(r.checkpoint, r.backup)})")
    console.print(head)
    if r.backup is not None and r.files:
        by_name = {f.file: f for f in r.backup.files}
        t = Table.grid(padding=(0, 2))
        t.add_column(no_wrap=True)
        t.add_column(overflow="fold")
        for c in r.files:
            f = by_name[c.path.name]
            if c.path in r.restored:
                what = Text(_how(f) + ("" if f.sha256 is None else "; its SHA-256 is the original's"), style="green")
            elif r.status == "dry-run" and c.state == "repaired":
                what = Text(f"as repaired: would be restored ({_how(f)})", style="yellow")
            elif c.state == "original":
                what = Text("the original (nothing to do)", style="green")
            elif c.state == "repaired":
                what = Text("as the repair left it", style="yellow")
            else:
                what = Text("changed since the repair: neither the repaired file nor the original", style="red")
            t.add_row(f"  {c.path.name}", what)
        console.print(t)
    if r.error and r.status != "none":
        console.print(Text(f"  {r.error}", style="red" if r.exit_code else "dim"))


def render_restore(console: Console, outcome: RestoreOutcome, target: object | None = None, latest: bool = False) -> None:
    if not latest:
        for s in outcome.disc.skipped:
            console.print(Text(f"skipped {s.path}: {s.reason}", style="dim"))
    for r in outcome.items:
        if r.status == "none" and not outcome.disc.is_single:
            continue  # an output folder's checkpoints that were never repaired
        _result(console, r)
    counts: dict[str, int] = {}
    for r in outcome.items:
        if r.status != "none":
            counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {_STATUS[s][0].split(':')[0]}" for s, n in counts.items())
    where = quote(target if target is not None else outcome.disc.root) + (" --latest" if latest else "")
    command = None
    if counts.get("restored"):
        command = f"ckptfix inspect {where}"  # the state as it was before the repair
    elif counts.get("refused"):
        command = f"ckptfix restore {where} --list"
    closing(console, f"{target if target is not None else outcome.disc.root}: {summary or 'nothing restored'}; "
            f"exit {outcome.exit_code}", command, "nothing to do")


def render_backups(console: Console, checkpoints: tuple[Path, ...]) -> int:
    """``restore --list``: every backup of each checkpoint, the one ``restore`` would undo marked.
    Returns how many backups there are."""
    total = 0
    for ck in checkpoints:
        backups = list_backups(ck)
        if not backups:
            continue
        total += len(backups)
        pending = [b for b in backups if b.restored is None]
        console.print(Text(f"{ck}: {len(backups)} backup{'s' if len(backups) != 1 else ''} in {ck.name}/.ckptfix",
                           style="bold"))
        t = Table.grid(padding=(0, 2))
        t.add_column(no_wrap=True)
        t.add_column(overflow="fold")
        for b in reversed(backups):  # newest first: the one restore undoes comes first
            files = ", ".join(f"{f.file} ({_DONE.get(f.action, f.action)})" for f in b.files)
            if b.problem:
                state = Text(b.problem, style="red")
            elif b.restored:
                state = Text(f"{files}; restored {b.restored}", style="dim")
            elif b is pending[-1]:
                now = check_files(ck, b)
                states = {c.state for c in now}
                if states == {"repaired"}:
                    note = "the last repair: ckptfix restore undoes it"
                elif "changed" in states:
                    note = "the last repair, but a file changed since: restore refuses"
                elif states == {"original"}:
                    note = "the last repair, already undone by hand"
                else:
                    note = "the last repair, partly undone"
                state = Text(f"{files}; {note}", style="yellow")
            else:
                state = Text(f"{files}; an earlier repair", style="dim")
            t.add_row(f"  {b.name}", state)
        console.print(t)
    return total
