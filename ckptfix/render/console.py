"""Rich rendering for people. Only presentation: every value comes from the reports."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ckptfix.analysis.report import CheckpointReport, SchedulerReport
from ckptfix.analysis.resume_checks import stock_note
from ckptfix.model.checkpoint import Discovery
from ckptfix.render.values import short

_VERDICT_STYLE = {"consistent": "green", "unchecked": "cyan", "findings": "yellow", "unreadable": "red"}
_SEV_STYLE = {"fatal": "bold red", "error": "red", "warning": "yellow", "info": "dim"}


def verdict_text(r: CheckpointReport) -> Text:
    return Text(r.verdict, style=_VERDICT_STYLE[r.verdict])


def summary_table(disc: Discovery, reports: list[CheckpointReport], width: int = 120) -> Table:
    wide = width >= 100  # below that, last_epoch/_last_lr live in the per-checkpoint panels
    t = Table(title=f"{disc.root}", title_justify="left", expand=False)
    t.add_column("checkpoint", overflow="fold", min_width=13)
    cols = ("step", "profile", "last_epoch", "_last_lr", "verdict", "findings") if wide else ("step", "profile", "verdict", "findings")
    for col in cols:
        t.add_column(col, overflow="fold")
    if disc.picks:
        t.caption = ("* latest: the checkpoint a resume would pick" if len(disc.picks) == 1 and disc.latest_sure
                     else "* the trainer's resume may pick any of these (why: below)")
        t.caption_justify = "left"
    for r in reports:
        sr = r.schedulers[0] if r.schedulers else None
        st = sr.file.state if sr and sr.file.state else {}
        codes = ", ".join(sorted({f.code for f in r.findings if f.severity != "info"})) or "—"
        name = r.checkpoint.name + (" *" if r.checkpoint.path in disc.picks else "")
        profile = (sr.profile or "unreadable") if sr else "—"
        extra = (short(st.get("last_epoch")), short(st.get("_last_lr"), 24)) if wide else ()
        t.add_row(name, short(r.steps.chosen), profile, *extra, verdict_text(r), codes)
    for s in disc.skipped:
        t.add_row(s.path.name, "—", "—", *(("—", "—") if wide else ()), Text("skipped", style="dim"), s.reason.split(":")[0])
    return t


def _facts_grid(r: CheckpointReport) -> Table:
    """Key facts as a two-column grid: fits 80 columns whatever the paths."""
    s = r.steps
    ts = r.checkpoint.training_state
    ts_label = ts.source if ts else "training_state.json"
    g = Table.grid(padding=(0, 2))
    g.add_column(style="bold")
    g.add_column(overflow="fold")
    sources = ", ".join(
        f"{name} {v}" for name, v in ((ts_label, s.training_state), ("folder", s.folder),
                                       ("optimizer", s.optimizer)) if v is not None
    )
    used = f"{s.chosen} from {s.source}" if s.source else "unknown"
    g.add_row("step", f"{used}  ({sources or 'no source'}" + (f"; epoch_step {short(s.epoch_step, 24)}" if s.epoch_step is not None else "") + ")")
    est = r.processes
    if r.num_processes is None and est is not None:
        g.add_row("processes", f"N unknown: candidates {', '.join(map(str, est.candidates))} ({est.why})")
    else:
        why = f"; {est.why}" if est is not None and est.why else ""
        g.add_row("processes", f"N = {r.num_processes} ({r.num_processes_source}{why})")
    if r.trainer is not None:
        g.add_row("trainer", f"{r.trainer.label} ({r.trainer.source})")
    if r.target != "sine":
        g.add_row("target", r.target)
    if r.checkpoint.layout != "accelerate":
        g.add_row("layout", r.checkpoint.layout)
    for o in r.checkpoint.optimizers:
        if o.problem:
            continue
        st = o.step
        count = short(st.value) if st and st.value is not None else "unknown"
        fam = f" ({st.family})" if st else ""
        g.add_row("optimizer", f"{o.path.name}: step {count}{fam}, lr {short([p.lr for p in o.param_groups])}")
    for sr in r.schedulers:
        if sr.match is not None:
            g.add_row("scheduler", f"{sr.file.path.name}: {sr.match.scheduler_kind}, profile {sr.profile}"
                      + (f" ({sr.match.basis})" if sr.match.basis != "none" else ""))
    return g


def _resume_table(r: CheckpointReport) -> list:
    """The resume preview: the first steps after the resume, per resume rule, against the target."""
    out: list = []
    for p in r.resume:
        at = short(p.resumed_last_epoch, 24)
        how = {"stored": f"last_epoch {at} as stored", "epoch_step": f"last_epoch = epoch_step × N = {at}",
               "global_step": f"last_epoch = global_step × N = {at}"}[p.last_epoch_from]
        verdict = "on schedule" if p.ok else (f"wrong from step {p.scheduler_wrong}" if p.scheduler_wrong
                                              else f"step {p.first_wrong} uses optimizer.bin's lr")
        out.append(Text(f"resume preview, {', '.join(p.rules)}: {how}; {verdict}",
                        style="green" if p.ok else "yellow"))
        t = Table(show_edge=False, pad_edge=False)
        for col in ("step", "resumed LR", f"{p.target} at the step"):
            t.add_column(col)
        for row in p.steps:
            t.add_row(str(row.step), Text(short(row.lr), style="" if row.ok else "yellow"), short(row.expected))
        out.append(t)
    if r.stock is not None and r.trainer is not None and r.steps.chosen is not None:
        out.append(Text("note: " + stock_note(r.trainer.title, r.stock, r.steps.chosen), style="dim"))
    return out


def _scheduler_table(sr: SchedulerReport) -> Table:
    st = sr.file.state or {}
    ref = sr.reference
    t = Table(show_edge=False, pad_edge=False)
    t.add_column("key")
    t.add_column("stored", overflow="fold")
    t.add_column(f"{ref.profile if ref else 'target'} at N×step", overflow="fold")
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


def findings_table(r: CheckpointReport) -> Table | Text:
    if not r.findings:
        return Text("no findings", style="green")
    t = Table(show_edge=False, pad_edge=False, show_header=True)
    t.add_column("code")
    t.add_column("severity")
    t.add_column("message", overflow="fold")
    for f in r.findings:
        where = f" ({f.key})" if f.key and f.key not in f.message else ""
        t.add_row(f.code, Text(f.severity, style=_SEV_STYLE[f.severity]), f"{f.message}{where}")
    return t


def checkpoint_panel(r: CheckpointReport, latest: bool = False) -> Panel:
    parts: list = [_facts_grid(r)]
    for sr in r.schedulers:
        if sr.file.state is not None and sr.match is not None and sr.profile != "unchecked":
            parts.append(Text(""))
            parts.append(_scheduler_table(sr))
        elif sr.match is not None:
            parts.append(Text(" ".join(sr.match.evidence[:2]), style="dim"))
    resume = _resume_table(r)
    if resume:
        parts.append(Text(""))
        parts.extend(resume)
    parts.append(Text(""))
    parts.append(findings_table(r))
    title = Text(r.checkpoint.name + (" (latest)" if latest else "") + " — ")
    title.append_text(verdict_text(r))
    return Panel(Group(*parts), title=title, title_align="left", expand=False)


def render_inspect(console: Console, disc: Discovery, reports: list[CheckpointReport], verbose: bool) -> None:
    if not disc.is_single or disc.skipped:
        console.print(summary_table(disc, reports, console.width))
        if disc.trainer:
            console.print(Text(f"latest ({disc.trainer}, {disc.trainer_source}): {disc.latest_reason}"
                               + (f"; {disc.latest_issue}" if disc.latest_issue else ""), style="dim"))
    for r in reports:
        if disc.is_single or verbose or r.exit_code != 0:
            console.print(checkpoint_panel(r, latest=(disc.picks == (r.checkpoint.path,) and not disc.is_single)))
    if not reports:
        console.print(Text(f"nothing to resume: no checkpoint-N folder in {disc.root} (exit 4)", style="dim"))
