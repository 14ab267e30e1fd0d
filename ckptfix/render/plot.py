"""The run's LR curve: the fixed sine, a pre-fix formula when a checkpoint was written by it, and where
each checkpoint sits (the LR its state resumes with, and the fixed formula's at its N × step).

``plot_data`` is pure (reports in, curves and marks out); the terminal plot uses plotext (pure Python,
no numpy), ``--plot-file`` matplotlib (the ``png`` extra), imported only when asked for. Both draw the
legend outside the data, integer step ticks, and the checkpoints' numbers next to their marks.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

from rich.console import Console
from rich.text import Text

from ckptfix.analysis.report import CheckpointReport
from ckptfix.errors import UsageError
from ckptfix.records import Record, replace
from ckptfix.schedulers.formulas import lr_matches
from ckptfix.schedulers.profiles import PROFILES, SIMPLETUNER_SINE_V1, SIMPLETUNER_SINE_V2, SINE

__all__ = ["Curve", "Mark", "PlotData", "integer_ticks", "plot_data", "render_plot", "require_matplotlib"]

#: How many checkpoints get their number written next to their mark (the latest and those with
#: findings first); more would cover the curve.
MAX_LABELS = 8

# One colour per series, the same in the terminal (plotext / Rich names) and the PNG (matplotlib).
_STYLE = {
    SINE: ("green+", "bright_green", "tab:green", "fixed sine (the reference; what repair writes)"),
    SIMPLETUNER_SINE_V1: ("red+", "bright_red", "tab:red", "pre-fix sine v1 (SimpleTuner 2024-02-16 to 2024-09-09)"),
    SIMPLETUNER_SINE_V2: ("magenta+", "bright_magenta", "tab:purple", "sin-based sine v2 (SimpleTuner since 2024-09-09)"),
}
_STORED = (208, "color(208)", "tab:orange", "checkpoint: the LR its state resumes with")
_FIXED = ("cyan+", "bright_cyan", "tab:blue", "checkpoint: the fixed sine at its N × step (when it differs)")


class Curve(Record):
    profile: str  # SINE, SIMPLETUNER_SINE_V1 or SIMPLETUNER_SINE_V2
    x: tuple[int, ...]
    y: tuple[float, ...]


class Mark(Record):
    """One checkpoint on the plot."""

    label: str  # "30" for checkpoint-30
    x_stored: int | None  # its stored last_epoch
    y_stored: float | None  # its stored _last_lr[0]
    x_fixed: int | None  # N x step
    y_fixed: float | None  # the fixed sine there
    labelled: bool = True


class PlotData(Record):
    title: str
    subtitle: str
    curves: tuple[Curve, ...]
    marks: tuple[Mark, ...]
    x_max: int


def _base_state(reports: list[CheckpointReport]) -> dict | None:
    for r in reports:
        for sr in r.schedulers:
            st = sr.file.state or {}
            if sr.profile in PROFILES and isinstance(st.get("T_0"), int) and st["T_0"] > 0:
                return st
    return None


def _label(name: str) -> str:
    return name[len("checkpoint-"):] if name.startswith("checkpoint-") else name


def plot_data(reports: list[CheckpointReport], points: int = 400) -> PlotData | None:
    """Curves from the first sine-family state; one mark per checkpoint. Pure."""
    base = _base_state(reports)
    if base is None:
        return None
    t0 = base["T_0"]
    t_mult = base.get("T_mult", 1) if isinstance(base.get("T_mult", 1), int) and base.get("T_mult", 1) >= 1 else 1
    eta = float(base.get("eta_min") or 0.0)
    lr0 = float((base.get("base_lrs") or [1.0])[0])
    marks: list[Mark] = []
    noted: list[bool] = []  # the checkpoint has findings
    written_by = set()
    for r in reports:
        for sr in r.schedulers[:1]:
            st = sr.file.state or {}
            written_by.add(sr.profile)
            le, lr = st.get("last_epoch"), (st.get("_last_lr") or [None])[0]
            stored_ok = (isinstance(le, int) and not isinstance(le, bool) and le >= 0
                         and isinstance(lr, float) and math.isfinite(lr))
            ref = sr.reference
            fixed_lr = ref.last_lr[0] if ref is not None and ref.last_lr else None
            fixed_x = ref.last_epoch if ref is not None and fixed_lr is not None else None
            if stored_ok and fixed_x == le and lr_matches(lr, fixed_lr):  # type: ignore[arg-type]
                fixed_x = fixed_lr = None  # the state is where the fixed sine is: one mark
            if stored_ok or fixed_lr is not None:
                marks.append(Mark(_label(r.checkpoint.name), le if stored_ok else None, lr if stored_ok else None,
                                  fixed_x, fixed_lr))
                noted.append(r.exit_code != 0 or any(f.severity != "info" for f in r.findings))
    if len(marks) > MAX_LABELS:  # the latest, then those with findings (newest first), up to MAX_LABELS
        order = [len(marks) - 1] + [i for i in range(len(marks) - 2, -1, -1) if noted[i]]
        keep = set(order[:MAX_LABELS])
        marks = [replace(m, labelled=i in keep) for i, m in enumerate(marks)]
    xs_marked = [x for m in marks for x in (m.x_stored, m.x_fixed) if x is not None]
    x_max = int(max(xs_marked + [2 * t0]) * 1.08) + 1
    stride = max(1, x_max // points)
    xs = tuple(range(0, x_max + 1, stride))
    curves = [Curve(SINE, xs, tuple(PROFILES[SINE].expected_lrs([lr0], eta, x, t0, t_mult)[0] for x in xs))]
    for prof in (SIMPLETUNER_SINE_V1, SIMPLETUNER_SINE_V2):
        if prof in written_by:  # a pre-fix curve only when a checkpoint was written by it
            curves.append(Curve(prof, xs, tuple(PROFILES[prof].expected_lrs([lr0], eta, x, t0, t_mult)[0] for x in xs)))
    subtitle = f"T_0 {t0} · T_mult {t_mult} · base LR {lr0:g} · eta_min {eta:g}"
    return PlotData("Learning rate by scheduler step", subtitle, tuple(curves), tuple(marks), x_max)


def integer_ticks(x_max: int, most: int = 7) -> list[int]:
    """Round integer ticks from 0 to ``x_max``: a step of 1, 2 or 5 × 10^k, at most ``most`` ticks."""
    span = max(1, x_max)
    step = 1
    while True:
        for m in (1, 2, 5):
            s = m * step
            if span // s + 1 <= most:
                return list(range(0, span + 1, s))
        step *= 10


def require_matplotlib() -> None:
    """``UsageError`` at once when ``--plot-file`` cannot be drawn (before any checkpoint is read)."""
    if importlib.util.find_spec("matplotlib") is None:
        raise UsageError("--plot-file needs matplotlib, which is not installed: pip install 'ckptfix[png]'")


def render_plot(reports: list[CheckpointReport], terminal: bool, png: Path | None, console: Console) -> None:
    data = plot_data(reports)
    if data is None:
        console.print(Text("no sine-family scheduler state to plot", style="yellow"))
        return
    if terminal:
        _terminal(data, console)
    if png is not None:
        _png(data, png)
        console.print(Text(f"wrote {png}"))


def _legend(data: PlotData) -> list[tuple[str, str, str]]:
    """(symbol, Rich colour, text) for each series drawn."""
    out = [("──", _STYLE[c.profile][1], _STYLE[c.profile][3]) for c in data.curves]
    if any(m.y_stored is not None for m in data.marks):
        out.append(("●", _STORED[1], _STORED[3]))
    if any(m.y_fixed is not None for m in data.marks):
        out.append(("×", _FIXED[1], _FIXED[3]))
    if any(m.labelled for m in data.marks):
        out.append(("30", "default", "the checkpoint's number (checkpoint-30)"))
    return out


def _terminal(data: PlotData, console: Console) -> None:
    import plotext as plt  # noqa: PLC0415 - only with --plot

    stream = console.file  # what the console writes to: ASCII where the encoding needs it (render/output.py)
    color = stream.isatty() and not console.no_color
    unicode = console.encoding.startswith("utf")  # else ASCII marks, as render/output.py writes the legend
    plt.clear_figure()
    width = min(console.width, 120)
    plt.plotsize(width, 22)
    plt.theme("clear")
    for c in data.curves:
        plt.plot(list(c.x), list(c.y), marker="braille" if unicode else ".", color=_STYLE[c.profile][0])
    stored = [m for m in data.marks if m.y_stored is not None]
    fixed = [m for m in data.marks if m.y_fixed is not None]
    if fixed:
        plt.scatter([m.x_fixed for m in fixed], [m.y_fixed for m in fixed], marker="x", color=_FIXED[0])
    if stored:
        plt.scatter([m.x_stored for m in stored], [m.y_stored for m in stored], marker="●" if unicode else "o", color=_STORED[0])
    ys = [y for c in data.curves for y in c.y] + [m.y_stored for m in stored] + [m.y_fixed for m in fixed]
    y_lo, y_hi = min(ys), max(ys)  # type: ignore[type-var]
    row = (y_hi - y_lo) / 16 or abs(y_hi) / 16 or 1.0  # about one text row at this height
    for m in data.marks:
        if m.labelled:  # beside the mark, never on it: below it in the upper half, above in the lower
            x = m.x_stored if m.x_stored is not None else m.x_fixed
            y = m.y_stored if m.y_stored is not None else m.y_fixed
            up = y < (y_lo + y_hi) / 2  # type: ignore[operator]
            plt.text(m.label, x, y + (1.5 * row if up else -1.5 * row), alignment="center")  # type: ignore[operator]
    ticks = integer_ticks(data.x_max, 8 if width >= 100 else 6)
    plt.xticks(ticks, [str(t) for t in ticks])
    plt.xlim(0, data.x_max)
    y_ticks = [y_lo + (y_hi - y_lo) * i / 4 for i in range(5)] if y_hi > y_lo else [y_lo]
    plt.yticks(y_ticks, [f"{y:.2e}" for y in y_ticks])
    plt.ylim(y_lo, y_hi)
    plt.xlabel("scheduler step (last_epoch = N × optimizer step)")
    head = Text(data.title, style="bold")
    head.append("\n" + data.subtitle, style="dim")
    console.print(head)
    out = plt.build()
    if not color:
        out = plt.uncolorize(out)
    stream.write(out + "\n")
    stream.flush()
    legend = Text()
    for i, (symbol, style, text) in enumerate(_legend(data)):
        if i:
            legend.append("\n")
        legend.append(f"  {symbol} ", style=style)
        legend.append(text)
    console.print(legend, soft_wrap=True)


def _png(data: PlotData, path: Path) -> None:
    require_matplotlib()
    import matplotlib  # noqa: PLC0415 - optional extra [png], only with --plot-file

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 - optional extra [png], only with --plot-file
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415 - see above

    fig, ax = plt.subplots(figsize=(10, 5.2), dpi=110)
    for c in data.curves:
        ax.plot(c.x, c.y, "-" if c.profile == SINE else "--", color=_STYLE[c.profile][2], label=_STYLE[c.profile][3],
                linewidth=1.6 if c.profile == SINE else 1.3, zorder=2)
    fixed = [m for m in data.marks if m.y_fixed is not None]
    stored = [m for m in data.marks if m.y_stored is not None]
    if fixed:
        ax.scatter([m.x_fixed for m in fixed], [m.y_fixed for m in fixed], marker="x", s=55, color=_FIXED[2],
                   label=_FIXED[3], zorder=4)
    if stored:
        ax.scatter([m.x_stored for m in stored], [m.y_stored for m in stored], marker="o", s=46,
                   facecolors="none", edgecolors=_STORED[2], linewidths=1.6, label=_STORED[3], zorder=3)
    ys = [y for c in data.curves for y in c.y]
    middle = (min(ys) + max(ys)) / 2
    for m in data.marks:
        if m.labelled:  # beside the mark: below it in the upper half, above it in the lower
            x = m.x_stored if m.x_stored is not None else m.x_fixed
            y = m.y_stored if m.y_stored is not None else m.y_fixed
            up = y < middle  # type: ignore[operator]
            ax.annotate(m.label, (x, y), textcoords="offset points", xytext=(0, 9 if up else -14), ha="center",
                        fontsize=8)
    ax.set_title(f"{data.title}\n{data.subtitle}", fontsize=10)
    ax.set_xlabel("scheduler step (last_epoch = N × optimizer step)")
    ax.set_ylabel("learning rate")
    ax.set_xlim(0, data.x_max)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8, frameon=False)
    fig.tight_layout()
    try:
        fig.savefig(path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
