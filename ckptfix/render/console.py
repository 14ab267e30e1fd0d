"""Rich rendering of ``inspect`` for people. Only presentation: each checkpoint's details and the summary table
are drawn from the records ``inspect --json`` prints (``api/results.py``: ``CheckResult``), the closing lines
from the findings.

The order ends with what matters most: the details of the checkpoints with findings (each finding with
its fix), then (for an output folder) the summary table, then one summary line and the command to run
next. ``--quiet`` prints only those last two lines; long folders fold runs of consistent checkpoints
and show the details of the newest few with findings (``--verbose``: everything).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ckptfix.analysis.report import CheckpointReport, Options
from ckptfix.analysis.resume_checks import stock_note
from ckptfix.analysis.unchecked import unchecked_note
from ckptfix.exitcodes import worst
from ckptfix.model.checkpoint import Discovery
from ckptfix.model.layouts import get_layout
from ckptfix.render.next_steps import counts, next_command, placeholders
from ckptfix.render.values import short, source_words

if TYPE_CHECKING:  # built only for the detailed output (--quiet prints the closing lines alone)
    from ckptfix.api.results import CheckpointResult, CheckResult, FindingResult, SchedulerResult

__all__ = [
    "MAX_PANELS", "PROFILE_WORDS", "SEVERITY_STYLE", "checkpoint_panel", "closing", "findings_grid", "last_part",
    "render_inspect", "summary_lines", "summary_table", "verdict_text",
]

_VERDICT_STYLE = {"consistent": "green", "unchecked": "cyan", "findings": "yellow", "unreadable": "red"}
SEVERITY_STYLE = {"fatal": "bold red", "error": "red", "warning": "yellow", "info": "dim"}

#: Without --verbose, the details of at most this many checkpoints with findings (the newest).
MAX_PANELS = 5
#: Folders with more checkpoints than this fold runs of consistent ones into one row (not with --verbose).
FOLD_ABOVE = 20

PROFILE_WORDS = {
    "sine": "the fixed sine",
    "simpletuner-sine-v1": "SimpleTuner's pre-fix sine (v1)",
    "simpletuner-sine-v2": "SimpleTuner's sin-based sine (v2)",
    "simpletuner-cosine": "SimpleTuner's Cosine",
    "unchecked": "a scheduler ckptfix does not check",
}
_BASIS_WORDS = {"lr+keys": "recognised by its LR and its keys", "lr": "recognised by its LR",
                "keys": "recognised by its keys", "nearest": "the closest match"}
_SOURCE_WORDS = {"--step": "given with --step", "folder name": "from the folder name",
                 "optimizer": "from the optimizer's step count"}


def verdict_text(c: CheckpointResult) -> Text:
    return Text(c.verdict, style=_VERDICT_STYLE.get(c.verdict, ""))


def _shown(c: CheckpointResult) -> list[FindingResult]:
    return [f for f in c.findings if f.severity != "info"]


def _has_details(c: CheckpointResult) -> bool:
    return c.exit_code != 0 or bool(_shown(c))


def last_part(path: str) -> str:
    """The last part of a path as the result holds it (a local path or an object storage URL)."""
    return path.rstrip("/").rsplit("/", 1)[-1]


# --- the summary table --------------------------------------------------------------------------


def _row(c: CheckpointResult, latest: bool) -> tuple[Any, ...]:
    sr = c.schedulers[0] if c.schedulers else None
    codes = ", ".join(dict.fromkeys(f.code for f in _shown(c))) or "—"
    profile = (sr.profile or "unreadable") if sr else "—"
    return (c.name + (" *" if latest else ""), short(c.steps.chosen), profile, verdict_text(c), codes)


def _folded(checkpoints: tuple[CheckpointResult, ...], picks: set[str]) -> list[tuple[Any, ...]]:
    """One row per checkpoint, runs of three or more consistent ones (not a latest pick) folded into one."""
    rows: list[tuple[Any, ...]] = []
    run: list[CheckpointResult] = []

    def flush() -> None:
        if len(run) >= 3:
            profiles = {(sr.profile if sr else "—") for c in run for sr in c.schedulers[:1] or [None]}
            first, last = short(run[0].steps.chosen), short(run[-1].steps.chosen)
            rows.append((f"{run[0].name}\n… {run[-1].name}",
                         first if first == last else f"{first}\n… {last}",
                         profiles.pop() if len(profiles) == 1 else "(several)", Text("consistent", style="green"),
                         f"({len(run)} checkpoints)"))
        else:
            rows.extend(_row(c, c.path in picks) for c in run)
        run.clear()

    for i, c in enumerate(checkpoints):
        if c.verdict == "consistent" and not _shown(c) and i < len(checkpoints) - 1 and c.path not in picks:
            run.append(c)
            continue
        flush()
        rows.append(_row(c, c.path in picks))
    flush()
    return rows


def summary_table(disc: Discovery, result: CheckResult, fold: bool = False) -> Table:
    """One row per checkpoint (and per skipped folder). No vertical rules: it fits 80 columns, and no
    name, profile or verdict is ever split across lines."""
    t = Table(title=f"{disc.root}", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    t.add_column("checkpoint", no_wrap=True)
    t.add_column("step", no_wrap=True, justify="right")
    t.add_column("profile", no_wrap=True)
    t.add_column("verdict", no_wrap=True)
    t.add_column("findings", overflow="fold", min_width=6)
    if disc.picks:
        t.caption = ("* latest: the checkpoint a resume would pick" if len(disc.picks) == 1 and disc.latest_sure
                     else "* the trainer's resume may pick any of these (why: below)")
        t.caption_justify = "left"
    picks = set(result.latest_candidates)
    rows = _folded(result.checkpoints, picks) if fold else [_row(c, c.path in picks) for c in result.checkpoints]
    for row in rows:
        t.add_row(*row)
    for s in disc.skipped:
        t.add_row(s.path.name, "—", "—", Text("skipped", style="dim"), s.reason.split(":")[0])
    return t


# --- one checkpoint's details -------------------------------------------------------------------


def _step_words(c: CheckpointResult) -> str:
    s = c.steps
    ts_label = s.state_file or "training_state.json"
    sources = [f"{name} {v}" for name, v in ((ts_label, s.training_state), ("folder name", s.folder),
                                             ("optimizer", s.optimizer)) if v is not None]
    if s.chosen is None:
        text = "unknown (no training_state.json, folder number or optimizer count)"
    else:
        text = f"{s.chosen}, " + _SOURCE_WORDS.get(s.source or "", f"from {s.source}")
    others = [n for n, v in ((ts_label, s.training_state), ("the folder name", s.folder), ("the optimizer", s.optimizer))
              if v is not None and v == s.chosen and not (s.source or "").startswith(n.removeprefix("the "))]
    if not s.agree:
        text += "; the sources disagree: " + ", ".join(sources)
    elif others:
        text += f" ({' and '.join(others)} agree{'s' if len(others) == 1 else ''})"
    if s.epoch_step is not None and s.epoch_step != s.chosen:
        text += f"; epoch_step {s.epoch_step}"
    return text


def _process_words(c: CheckpointResult) -> str:
    """N and where it comes from (``analysis/processes.py``), or why it is not known."""
    n = c.num_processes
    if n.value is None:
        candidates = ", ".join(map(str, n.candidates)) if n.candidates else "none"
        why = f": {n.why}" if n.why else ""
        return f"N unknown (candidates {candidates}){why}"
    why = f"; {n.why}" if n.why else ""
    return f"N = {n.value}, {source_words(n.source)}{why}"


def _facts_grid(c: CheckpointResult) -> Table:
    """Key facts as a two-column grid: fits 80 columns whatever the paths."""
    g = Table.grid(padding=(0, 2))
    g.add_column(style="bold", no_wrap=True)
    g.add_column(overflow="fold")
    g.add_row("step", _step_words(c))
    g.add_row("processes", _process_words(c))
    if c.trainer is not None:
        g.add_row("trainer", f"{' / '.join(x.label for x in c.trainer.releases)} ({c.trainer.source})")
    if c.target != "sine":
        g.add_row("target", c.target)
    if get_layout(c.layout).shown:
        g.add_row("layout", c.layout)
    for o in c.optimizers:
        if o.problem:
            continue
        count = short(o.step) if o.step is not None else "unknown"
        fam = f" ({o.family})" if o.family is not None else ""
        g.add_row("optimizer", f"{last_part(o.file)}: step {count}{fam}, LR {short(list(o.lr))}")
    for sr in c.schedulers:
        if sr.schedule is not None:
            g.add_row("scheduler", _schedule_words(sr))
            if sr.schedule.config:
                g.add_row("schedule", ", ".join(f"{x.input} {short(x.value)} ({x.source})" for x in sr.schedule.config))
        elif sr.profile is not None:
            words = PROFILE_WORDS.get(sr.profile, sr.profile)
            basis = _BASIS_WORDS.get(sr.basis or "")
            g.add_row("scheduler", f"{last_part(sr.file)}: {sr.scheduler_kind}, written by {words} "
                      f"(profile {sr.profile}" + (f", {basis})" if basis else ")"))
    return g


_CHECKED_WORDS = {"lr": "LRs checked", "position": "position checked, LRs not", "none": "not checked"}


def _schedule_words(sr: SchedulerResult) -> str:
    """``scheduler.bin: LambdaLR, last_epoch 16 = 2 × step 8 (...); LRs checked (linear ...)``."""
    sc = sr.schedule
    assert sc is not None
    also = f" (or {', '.join(sc.also)})" if sc.also and sc.checked != "lr" else ""
    k = sc.steps_per_optimizer_step
    where = ""
    if sc.position is not None and sc.expected_position is not None and isinstance(k, (int, float)):
        rel = "as expected" if sc.position == sc.expected_position else f"expected {sc.expected_position}"
        times = str(int(k)) if float(k).is_integer() else f"{k:g}"
        where = f", position {sc.position} ({rel}: {times} × the step; {sc.steps_source})"
    elif sc.position is not None:
        where = f", position {sc.position}"
    what = _CHECKED_WORDS.get(sc.checked, sc.checked)
    if sc.checked == "lr" and sc.resumer_schedule:
        what += f" against {sc.resumer_schedule}"
    needs = f" ({'; '.join(sc.needs)})" if sc.needs and sc.checked != "lr" else ""
    return f"{last_part(sr.file)}: {sc.family}{also}{where}; {what}{needs}"


def _resume_table(c: CheckpointResult, stock_note: str | None) -> list:
    """The resume preview: the first steps after the resume, per resume rule, against the target."""
    out: list = []
    for p in c.resume_preview:
        at = short(p.resumed_last_epoch, 24)
        how = (f"last_epoch {at} as stored" if p.last_epoch_from == "stored" else
               "last_epoch = " + " = ".join(f"{x} × N" for x in p.last_epoch_from.split("/")) + f" = {at}")
        verdict = "on schedule" if p.ok else (f"wrong from step {p.scheduler_wrong_step}" if p.scheduler_wrong_step
                                              else f"step {p.first_wrong_step} uses optimizer.bin's lr")
        out.append(Text(f"resume preview, {', '.join(p.releases)}: {how}; {verdict}",
                        style="green" if p.ok else "yellow"))
        t = Table(show_edge=False, pad_edge=False, box=box.SIMPLE_HEAD)
        for col in ("step", "resumed LR", f"{p.target} at the step"):
            t.add_column(col)
        for row in p.steps:
            t.add_row(str(row.step), Text(short(row.lr), style="" if row.ok else "yellow"), short(row.expected))
        out.append(t)
    if stock_note is not None:
        out.append(Text("note: " + stock_note, style="dim"))
    return out


def _scheduler_table(sr: SchedulerResult) -> Table:
    st = sr.values or {}
    ref = sr.reference
    t = Table(show_edge=False, pad_edge=False, box=box.SIMPLE_HEAD)
    t.add_column("key", no_wrap=True)
    t.add_column("stored", overflow="fold")
    t.add_column(f"{'fixed sine' if ref is None or ref.profile == 'sine' else ref.profile} at N × step", overflow="fold")
    expected = {
        "last_epoch": ref.last_epoch if ref else sr.expected_last_epoch,
        "T_cur": ref.T_cur if ref else None,
        "T_i": ref.T_i if ref else None,
        "_last_lr": ref.last_lr if ref else None,
    }
    if ref is not None and ref.total_steps is not None:
        expected["total_steps"] = ref.total_steps
    for key in ("last_epoch", "T_cur", "T_i", "T_0", "T_mult", "eta_min", "base_lrs", "_last_lr", "_step_count", "total_steps"):
        if key not in st and key not in expected:
            continue
        stored = short(st.get(key)) if key in st else "(absent)"
        exp = expected.get(key)
        style = ""
        if exp is not None and key in st and short(st.get(key)) != short(exp):
            style = "yellow"
        t.add_row(key, Text(stored, style=style), short(exp) if exp is not None else "")
    return t


def _where(f: FindingResult, checkpoint: str) -> str | None:
    """``in scheduler.bin, key _last_lr``: the finding's place, when it is not the folder itself."""
    if not f.file or Path(f.file) == Path(checkpoint):
        return f"key {f.key}" if f.key else None
    name = Path(f.file).name
    return f"in {name}" + (f", key {f.key}" if f.key else "")


def findings_grid(c: CheckpointResult) -> Table | Text:
    """Each finding: code, severity, the message, where, and what to do."""
    if not c.findings:
        return Text("no findings", style="green")
    t = Table.grid(padding=(0, 1))
    t.add_column(no_wrap=True)
    t.add_column(no_wrap=True)
    t.add_column(overflow="fold")
    for f in c.findings:
        text = Text(f.message)
        where = _where(f, c.path)
        if where:
            text.append(f"\n{where}", style="dim")
        if f.severity != "info" or f.fix:
            text.append("\nfix: ", style="bold")
            text.append(f.fix)
        t.add_row(f.code, Text(f.severity, style=SEVERITY_STYLE[f.severity]), text)
    return t


def checkpoint_panel(c: CheckpointResult, latest: bool = False, stock_note: str | None = None) -> Panel:
    """One checkpoint's details, from the record ``inspect --json`` prints for it (``stock_note``: what an
    unmodified trainer does with the state, when it runs another formula)."""
    parts: list = [_facts_grid(c)]
    for sr in c.schedulers:
        if sr.schedule is not None:
            continue  # its family's line in the facts grid says it
        if sr.values is not None and sr.profile is not None and sr.profile != "unchecked":
            parts.append(Text(""))
            parts.append(_scheduler_table(sr))
        elif sr.profile is not None:
            parts.append(Text(" ".join(sr.evidence[:2]), style="dim"))
    resume = _resume_table(c, stock_note)
    if resume:
        parts.append(Text(""))
        parts.extend(resume)
    parts.append(Text(""))
    parts.append(findings_grid(c))
    title = Text(c.name + (" (latest)" if latest else "") + " — ")
    title.append_text(verdict_text(c))
    return Panel(Group(*parts), title=title, title_align="left", expand=False)


# --- the closing lines --------------------------------------------------------------------------


def closing(console: Console, head: str, command: str | None, says: str | None = None, also: str | None = None,
            first: str | None = None) -> None:
    """The last lines: ``head`` (what was found and the exit code), then ``→`` and the command to run next
    (kept on one line, so that copying it gives the whole command) or what to do (``says``, then ``also``:
    a line of its own, unwrapped, for a command that goes with it). ``first``: what must happen before the
    command (another repair holds the lock: wait for it), on a line of its own above it."""
    console.print(Text(head, style="bold"))
    if first:
        console.print(Text(first, style="yellow"))
    if command is None:
        console.print(Text(f"→ {says or 'nothing to fix'}", style="green"))
        if also:
            console.print(Text(f"  {also}", style="dim"), soft_wrap=True)
        return
    if len(command) + 2 <= console.width or not console.is_terminal:  # a script reads one line
        console.print(Text.assemble(("→ ", "bold"), (command, "bold cyan")), soft_wrap=True)
    else:  # longer than a line: on a line of its own, which the terminal wraps (a copy stays one command)
        console.print(Text("→ run next:", style="bold"))
        console.print(Text(command, style="bold cyan"), soft_wrap=True)
    hint = placeholders(command)
    if hint:
        console.print(Text(f"  ({hint})", style="dim"))


def summary_lines(reports: list[CheckpointReport], exit_code: int, target: object, latest: bool,
                  opts: Options) -> tuple[str, str | None, str | None]:
    """(what was found and the exit code, the command to run next or None, what to say instead)."""
    findings = [f for r in reports for f in r.findings]
    found = counts(findings)
    if len(reports) == 1:
        head = f"{reports[0].checkpoint.path}: {reports[0].verdict}" + (f", {found}" if found else "")
    else:
        verdicts: dict[str, int] = {}
        for r in reports:
            verdicts[r.verdict] = verdicts.get(r.verdict, 0) + 1
        words = {"findings": "with findings"}
        head = f"{target}: {len(reports)} checkpoints, " + ", ".join(f"{n} {words.get(v, v)}" for v, n in verdicts.items())
        if found:
            head += f"; {found}"
    command = next_command(findings, target, latest, opts)
    notes = [(r, note) for r in reports if r.verdict == "unchecked" and (note := unchecked_note(r)) is not None]
    says = None
    if notes:  # nothing wrong found, nothing checked either: never "safe to resume"
        r, note = notes[-1]
        says = (f"not checked: {note}" if len(reports) == 1 else
                f"{len(notes)} of {len(reports)} checkpoints not checked; {r.checkpoint.name}: {note}")
    elif exit_code == 0:
        says = "nothing to fix: safe to resume"
    return head + f"; exit {exit_code}", command, says


def _stock_note(r: CheckpointReport) -> str | None:
    """What an unmodified trainer does with the state, when it runs another formula than the target."""
    if r.stock is None or r.trainer is None or r.steps.chosen is None:
        return None
    return stock_note(r.trainer.title, r.stock, r.steps.chosen)


def render_inspect(console: Console, disc: Discovery, reports: list[CheckpointReport], verbose: bool = False,
                   quiet: bool = False, target: object | None = None, latest: bool = False,
                   opts: Options = Options(), exit_code: int | None = None) -> None:
    code = worst(r.exit_code for r in reports) if exit_code is None else exit_code
    if not reports:
        closing(console, f"nothing to resume: no checkpoint-N folder in {disc.root}; exit {code}", None,
                "a first launch: start training (no --resume_from_checkpoint)")
        return
    if not quiet:
        _details(console, disc, reports, verbose, latest, code)
    closing(console, *summary_lines(reports, code, target if target is not None else disc.root, latest, opts))


def _details(console: Console, disc: Discovery, reports: list[CheckpointReport], verbose: bool, latest: bool,
             code: int) -> None:
    """The panels and the summary table, drawn from the records ``inspect --json`` prints."""
    from ckptfix.api.results import check_result  # noqa: PLC0415 - the --quiet gate prints the closing lines only

    result = check_result(disc, reports, code)
    notes = {str(r.checkpoint.path): _stock_note(r) for r in reports}
    detailed = [c for c in result.checkpoints if disc.is_single or verbose or _has_details(c)]
    hidden = 0
    if not verbose and len(detailed) > MAX_PANELS:
        hidden = len(detailed) - MAX_PANELS
        detailed = detailed[-MAX_PANELS:]  # the newest, the latest among them
    if hidden:
        console.print(Text(f"{hidden} older checkpoint{'s' if hidden != 1 else ''} with findings not shown "
                           "in detail (--verbose shows every one)", style="dim"))
    for c in detailed:
        latest_pick = result.latest_candidates == (c.path,) and not disc.is_single
        console.print(checkpoint_panel(c, latest=latest_pick, stock_note=notes[c.path]))
    if len(reports) > 1 or (disc.skipped and not latest):
        console.print(summary_table(disc, result, fold=not verbose and len(reports) > FOLD_ABOVE))
    elif disc.skipped:  # the gate (--latest): say what was not read, in one line
        for s in disc.skipped:
            console.print(Text(f"skipped {s.path.name}: {s.reason.split(':')[0]}", style="dim"))
    if disc.trainer and (len(disc.picks) > 1 or disc.latest_issue):  # the pick is not certain: say why
        console.print(Text(f"latest ({disc.trainer}, {disc.trainer_source}): {disc.latest_reason}"
                           + (f"; {disc.latest_issue}" if disc.latest_issue else ""), style="dim"))
