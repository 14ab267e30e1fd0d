"""The run's LR curve: the fixed sine, the pre-fix v1 for contrast, and where each checkpoint sits.

Terminal output uses plotext (pure Python, no numpy); ``--plot-file`` uses matplotlib (the ``png``
extra), imported only when asked for.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from rich.console import Console

from ckptfix.analysis.report import CheckpointReport
from ckptfix.errors import UsageError
from ckptfix.records import Record
from ckptfix.schedulers.profiles import PROFILES, SIMPLETUNER_SINE_V1, SINE


class Curve(Record):
    label: str
    x: list[int]
    y: list[float]


class Marks(Record):
    label: str
    x: list[int]
    y: list[float]


class PlotData(Record):
    title: str
    curves: list[Curve]
    marks: list[Marks]


def plot_data(reports: list[CheckpointReport], points: int = 400) -> PlotData | None:
    """Curves from the first sine-family state; one mark per checkpoint. Pure."""
    base = None
    for r in reports:
        for sr in r.schedulers:
            st = sr.file.state or {}
            if sr.profile in PROFILES and isinstance(st.get("T_0"), int) and st["T_0"] > 0:
                base = st
                break
        if base:
            break
    if base is None:
        return None
    t0, t_mult = base["T_0"], base.get("T_mult", 1) if isinstance(base.get("T_mult", 1), int) else 1
    eta = float(base.get("eta_min") or 0.0)
    lr0 = float((base.get("base_lrs") or [1.0])[0])
    ends = [sr.expected_last_epoch or 0 for r in reports for sr in r.schedulers]
    ends += [st.get("last_epoch") for r in reports for sr in r.schedulers
             if isinstance(st := (sr.file.state or {}), dict) and isinstance(st.get("last_epoch"), int)]
    last = max([e for e in ends if isinstance(e, int)] + [2 * t0])
    stop = int(last * 1.1) + 1
    stride = max(1, stop // points)
    xs = list(range(0, stop, stride))
    curves = []
    for name, label in ((SINE, "fixed sine (reference)"), (SIMPLETUNER_SINE_V1, "pre-fix sine v1")):
        prof = PROFILES[name]
        curves.append(Curve(label, xs, [prof.expected_lrs([lr0], eta, x, t0, max(1, t_mult))[0] for x in xs]))
    ref_x, ref_y, stored_x, stored_y = [], [], [], []
    for r in reports:
        for sr in r.schedulers[:1]:
            st = sr.file.state or {}
            if sr.reference and sr.reference.last_lr:
                ref_x.append(sr.reference.last_epoch)
                ref_y.append(sr.reference.last_lr[0])
            le, lr = st.get("last_epoch"), (st.get("_last_lr") or [None])[0]
            if isinstance(le, int) and isinstance(lr, float) and math.isfinite(lr):
                stored_x.append(le)
                stored_y.append(lr)
    marks = [Marks("checkpoint: fixed sine at N×step", ref_x, ref_y),
             Marks("checkpoint: stored _last_lr (resumes with)", stored_x, stored_y)]
    title = f"LR over scheduler steps (T_0={t0}, T_mult={t_mult}, base={lr0:g}, eta_min={eta:g})"
    return PlotData(title, curves, marks)


def render_plot(reports: list[CheckpointReport], terminal: bool, png: Path | None, console: Console) -> None:
    data = plot_data(reports)
    if data is None:
        console.print("no sine-family scheduler state to plot", style="yellow")
        return
    if terminal:
        _terminal(data, console)
    if png is not None:
        _png(data, png)
        console.print(f"wrote {png}", highlight=False)


def _terminal(data: PlotData, console: Console) -> None:
    import plotext as plt  # noqa: PLC0415 - only with --plot

    plt.clear_figure()
    width = min(console.width, 120)
    plt.plotsize(width, 24)
    plt.theme("clear")
    for c in data.curves:
        plt.plot(c.x, c.y, label=c.label, marker="braille")
    for m, marker in zip(data.marks, ("x", "o")):
        if m.x:
            plt.scatter(m.x, m.y, label=m.label, marker=marker)
    plt.title(data.title)
    plt.xlabel("last_epoch (scheduler steps)")
    out = plt.build()
    stream = sys.stderr if console.stderr else sys.stdout
    if not stream.isatty():
        out = plt.uncolorize(out)
    stream.write(out + "\n")


def _png(data: PlotData, path: Path) -> None:
    try:
        import matplotlib  # noqa: PLC0415 - optional extra [png], only with --plot-file

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415 - optional extra [png], only with --plot-file
    except ImportError:
        raise UsageError("--plot-file needs matplotlib: pip install 'ckptfix[png]'") from None
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=110)
    for c, style in zip(data.curves, ("-", "--")):
        ax.plot(c.x, c.y, style, label=c.label)
    for m, marker in zip(data.marks, ("o", "x")):
        if m.x:
            ax.scatter(m.x, m.y, marker=marker, s=60, zorder=3, label=m.label)
    ax.set_title(data.title)
    ax.set_xlabel("last_epoch (scheduler steps)")
    ax.set_ylabel("learning rate")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    try:
        fig.savefig(path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
