"""Many runs for people: one line per run (every run with ``--verbose``, else those that need something),
a progress display on a terminal, the summary."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from ckptfix.render.next_steps import counts

__all__ = ["fleet_progress", "render_merge_note", "render_run", "render_summary", "run_head"]

_WORDS = {"findings": "with findings", "nothing-to-resume": "nothing to resume", "ok": "ok"}


def _findings(doc: dict[str, Any]) -> list[SimpleNamespace]:
    return [SimpleNamespace(code=f["code"], severity=f["severity"]) for c in doc.get("checkpoints", [])
            for f in c.get("findings", ())]


def run_head(record: dict[str, Any]) -> str:
    """What one run came to, in one line (the single-run ``--quiet`` line's words)."""
    doc = record["document"]
    code = record["exit_code"]
    if "error" in doc:
        return f"{record['path']}: {doc['error']}; exit {code}"
    verdicts = record["verdicts"]
    if not verdicts:
        return f"{record['path']}: nothing to resume (no checkpoint yet); exit {code}"
    found = counts(_findings(doc))
    if record["checkpoints"] == 1 and doc.get("checkpoints"):
        head = f"{doc['checkpoints'][0]['path']}: {next(iter(verdicts))}"
    else:
        head = f"{record['path']}: {record['checkpoints']} checkpoints, " + ", ".join(
            f"{n} {_WORDS.get(v, v)}" for v, n in verdicts.items())
    return head + (f", {found}" if found else "") + f"; exit {code}"


def render_run(console: Console, record: dict[str, Any], verbose: bool = False) -> None:
    """A run's line (and the command to run next), unless it needs nothing and ``verbose`` is off."""
    if not verbose and record["exit_code"] in (0, 4):
        return
    style = "red" if record["exit_code"] in (3, 5) else "yellow" if record["exit_code"] else None
    console.print(Text(run_head(record), style=style or ""), soft_wrap=True, highlight=False)
    if record.get("next"):
        console.print(Text.assemble(("  → ", "bold"), (record["next"], "cyan")), soft_wrap=True, highlight=False)


def render_summary(console: Console, summary: dict[str, Any]) -> None:
    """The closing line: runs and checkpoints counted, by verdict and by run status, and the exit code."""
    runs, n = summary["runs"], summary["checkpoints"]
    where = ", ".join(summary["roots"]) + (f" (shard {summary['shard']['index']}/{summary['shard']['count']})"
                                           if summary.get("shard") else "")
    words = ", ".join(f"{c} {_WORDS.get(v, v)}" for v, c in summary["verdicts"].items())
    head = f"{where}: {runs} run{'s' if runs != 1 else ''}, {n} checkpoint{'s' if n != 1 else ''}" + (f": {words}" if words else "")
    empty = summary["run_status"].get("nothing-to-resume", 0)
    if empty:
        head += f"; {empty} run{'s' if empty != 1 else ''} with nothing to resume"
    others = {s: c for s, c in summary["run_status"].items() if s in ("unreadable", "internal-error", "usage-error")}
    if others:
        head += "; " + ", ".join(f"{c} run{'s' if c != 1 else ''} {s}" for s, c in others.items())
    console.print(Text(head + f"; exit {summary['exit_code']}", style="bold"), soft_wrap=True, highlight=False)
    if summary["tool"]["command"] != "inspect":
        return
    if summary["exit_code"] == 0 or (summary["exit_code"] == 4 and runs):
        console.print(Text("→ nothing to fix: safe to resume", style="green"))
    elif summary["exit_code"] == 4:
        console.print(Text("→ nothing to resume: no run with a checkpoint was found", style="green"))
    else:
        console.print(Text("→ each run's command to run next is above (with --jsonl: each run's \"next\")", style="bold"))


def render_merge_note(console: Console, files: int) -> None:
    console.print(Text(f"merged {files} shard file{'s' if files != 1 else ''}", style="dim"))


@contextmanager
def fleet_progress(console: Console, show: bool) -> Iterator[Callable[[int, int, str], None] | None]:
    """On a terminal (stderr), a progress display: runs done of the total, and the run in flight."""
    if not show or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn  # noqa: PLC0415 - only on a terminal

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), transient=True,
                  console=console) as bar:
        task = bar.add_task("runs", total=None)

        def tick(done: int, total: int, current: str) -> None:
            bar.update(task, completed=done, total=total, description=f"checking {escape(current)}" if current else "done")

        yield tick
