"""Plots that read: the pre-fix curve only when a checkpoint was written by it, integer step ticks,
checkpoints labelled, the legend below the plot (off the data), matplotlib checked before any reading."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from ckptfix.analysis.report import Options
from ckptfix.analysis.run import inspect_path
from ckptfix.render.plot import MAX_LABELS, integer_ticks, plot_data, render_plot
from ckptfix.schedulers.profiles import SIMPLETUNER_SINE_V1, SIMPLETUNER_SINE_V2, SINE
from tests.helpers import FIXTURES


def data(name: str):
    _, reports = inspect_path(FIXTURES / name, Options())
    return plot_data(reports)


@pytest.mark.parametrize("name, curves", [
    ("output-run", [SINE]), ("sine-ok", [SINE]), ("sine-v1", [SINE, SIMPLETUNER_SINE_V1]),
    ("sine-v2", [SINE, SIMPLETUNER_SINE_V2]),
])
def test_a_pre_fix_curve_only_when_a_checkpoint_was_written_by_it(name, curves):
    assert [c.profile for c in data(name).curves] == curves


def test_marks_one_per_checkpoint_and_the_fixed_point_only_where_it_differs():
    d = data("output-run")
    assert [m.label for m in d.marks] == ["10", "20", "25-rolling", "30"]
    assert all(m.y_fixed is None and m.labelled for m in d.marks)  # consistent: one mark each
    (m,) = data("sine-v1").marks
    assert (m.x_stored, m.y_stored, m.x_fixed, m.y_fixed) == (30, 5.0499e-05, 30, 1e-4)


@pytest.mark.parametrize("x_max, most", [(1, 6), (33, 6), (33, 8), (107, 6), (4096, 7), (10**9, 6)])
def test_integer_ticks(x_max, most):
    ticks = integer_ticks(x_max, most)
    assert ticks[0] == 0 and len(ticks) <= most and ticks[-1] <= x_max and len(ticks) >= 2 or x_max < 2
    assert all(type(t) is int for t in ticks)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1
    assert str(step).strip("0") in ("1", "2", "5") and x_max - ticks[-1] < step


def terminal(name: str, width: int) -> list[str]:
    _, reports = inspect_path(FIXTURES / name, Options())
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None)
    old = sys.stdout
    sys.stdout = buf  # plotext's drawing goes to the console's stream
    try:
        render_plot(reports, terminal=True, png=None, console=console)
    finally:
        sys.stdout = old
    return buf.getvalue().splitlines()


@pytest.mark.parametrize("width", [80, 120])
def test_terminal_plot_fits_ticks_are_steps_and_the_legend_is_below(width):
    lines = terminal("output-run", width)
    assert all(len(line) <= width for line in lines)
    axis = next(i for i, line in enumerate(lines) if line.lstrip().startswith("└"))
    ticks = lines[axis + 1].split()
    assert ticks[0] == "0" and all(re.fullmatch(r"\d+", t) for t in ticks)  # integer steps, no 8.2
    legend = lines[axis + 3:]
    assert any("fixed sine" in line for line in legend) and not any("pre-fix" in line for line in legend)
    plot_area = lines[:axis]
    assert not any("fixed sine" in line or "resumes with" in line for line in plot_area)  # legend off the data
    for label in ("10", "20", "25-rolling", "30"):
        assert any(label in line for line in plot_area), label


def test_many_checkpoints_label_the_latest_and_those_with_findings(tmp_path):
    import shutil

    out = tmp_path / "out"
    for n in range(1, 13):
        shutil.copytree(FIXTURES / ("sine-v1" if n in (3, 7) else "sine-ok") / "checkpoint-30", out / f"checkpoint-{n}")
    _, reports = inspect_path(out, Options(step=30))
    marks = plot_data(reports).marks
    labelled = [m.label for m in marks if m.labelled]
    assert len(labelled) <= MAX_LABELS and "12" in labelled and {"3", "7"} <= set(labelled)


def test_png_is_written(tmp_path: Path):
    _, reports = inspect_path(FIXTURES / "sine-v2", Options())
    png = tmp_path / "lr.png"
    render_plot(reports, terminal=False, png=png, console=Console(file=io.StringIO()))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_plot_file_without_matplotlib_is_a_usage_error_before_reading(tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from ckptfix._cli import main; sys.argv = ['ckptfix', *sys.argv[1:]]; main()")
    proc = subprocess.run([sys.executable, "-c", code, "inspect", str(FIXTURES / "sine-v1"), "--plot-file",
                           str(tmp_path / "lr.png")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "pip install 'ckptfix[png]'" in proc.stderr
    assert proc.stdout == ""  # nothing was analysed or printed before the error
