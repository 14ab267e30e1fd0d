"""Rich rendering for people. Only presentation: every value comes from the reports."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ckptfix.analysis.report import CheckpointReport, SchedulerReport
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
    if disc.latest is not None:
        t.caption = "* latest: the checkpoint a resume would pick"
        t.caption_justify = "left"
    for r in reports:
        sr = r.schedulers[0] if r.schedulers else None
        st = sr.file.state if sr and sr.file.state else {}
        codes = ", ".join(sorted({f.code for f in r.findings if f.severity != "info"})) or "—"
        name = r.checkpoint.name + (" *" if disc.latest == r.checkpoint.path else "")
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
    g.add_row("step", f"{used}  ({sources or 'no source'}" + (f"; epoch_step {s.epoch_step}" if s.epoch_step is not None else "") + ")")
    g.add_row("processes", f"N = {r.num_processes} ({r.num_processes_source})")
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


def _scheduler_table(sr: SchedulerReport) -> Table:
    st = sr.file.state or {}
    t = Table(show_edge=False, pad_edge=False)
    t.add_column("key")
    t.add_column("stored", overflow="fold")
    t.add_column("fixed sine at N×step", overflow="fold")
    ref = sr.reference
    expected = {
        "last_epoch": ref.last_epoch if ref else sr.expected_last_epoch,
        "T_cur": ref.T_cur if ref else None,
        "T_i": ref.T_i if ref else None,
        "_last_lr": ref.last_lr if ref else None,
    }
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
    parts.append(Text(""))
    parts.append(findings_table(r))
    title = Text(r.checkpoint.name + (" (latest)" if latest else "") + " — ")
    title.append_text(verdict_text(r))
    return Panel(Group(*parts), title=title, title_align="left", expand=False)


def render_inspect(console: Console, disc: Discovery, reports: list[CheckpointReport], verbose: bool) -> None:
    if not disc.is_single or disc.skipped:
        console.print(summary_table(disc, reports, console.width))
    for r in reports:
        if disc.is_single or verbose or r.exit_code != 0:
            console.print(checkpoint_panel(r, latest=(disc.latest == r.checkpoint.path and not disc.is_single)))
    if not reports:
        console.print(Text(f"nothing to resume: no checkpoint-N folder in {disc.root} (exit 4)", style="dim"))
