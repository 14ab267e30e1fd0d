"""Nothing interpolated into console output is parsed as Rich markup (issue #12 item 4).

Paths (``exp[lora]``, ``a[/b]``, ``[red]``), keys and values from a real state file, messages and install
hints print exactly as they are, for ``inspect``, ``repair``, ``explain`` and errors; none crashes.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ckptfix._cli import app
from tests.cli.test_terminal import pty_run
from tests.helpers import FIXTURES

runner = CliRunner()


def run(*args: object):
    """On the tests' fixed wide terminal (conftest.py): no folding, the printed path is one piece."""
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("run_dir", ["exp[lora]", "a[/b]", "[red]x[/red]", "[bold"])
@pytest.mark.parametrize("fixture", ["sine-ok", "sine-v1", "hostile"])
def test_bracketed_paths_print_as_they_are(tmp_path: Path, run_dir: str, fixture: str) -> None:
    out = tmp_path / run_dir
    shutil.copytree(FIXTURES / fixture, out)
    for args in (("inspect", out), ("inspect", out / "checkpoint-30"), ("inspect", out, "--latest", "-v"),
                 ("repair", out, "--dry-run"), ("repair", out / "checkpoint-30", "--dry-run")):
        res = run(*args)
        assert res.exit_code in (0, 1, 3), res.output
        assert "Traceback" not in res.output and "MarkupError" not in res.output
        # the output folder is the summary table's title; a repair names each checkpoint by its path
        shown = out / "checkpoint-30" if args[0] == "repair" and fixture != "sine-ok" else out
        assert str(shown) in res.stdout or args[1] != out and args[0] == "inspect", res.stdout
    res = run("inspect", out / "missing[/x]")
    assert res.exit_code == 2 and str(out / "missing[/x]") in res.stderr


def test_repair_applied_in_a_bracketed_folder(tmp_path: Path) -> None:
    out = tmp_path / "exp[lora]"
    shutil.copytree(FIXTURES / "sine-v1", out)
    res = run("repair", out, "--optimizer-lr")
    assert res.exit_code == 0, res.output
    assert str(out / "checkpoint-30") in res.stdout and "exp[lora]" in res.stdout


def test_keys_and_values_from_the_state_are_not_markup(tmp_path: Path) -> None:
    import torch

    ck = tmp_path / "run" / "checkpoint-30"
    shutil.copytree(FIXTURES / "sine-ok" / "checkpoint-30", ck)
    state = torch.load(ck / "scheduler.bin", weights_only=True)
    state["T_0"] = "[/red]"  # a bad value: its repr goes into a finding's message and the table
    state["base_lrs"] = ["[bold]1e-4"]
    torch.save(state, ck / "scheduler.bin")
    res = run("inspect", ck)
    assert res.exit_code == 1, res.output
    assert "'[/red]'" in res.stdout and "[bold]1e-4" in res.stdout
    res = run("repair", ck, "--dry-run")
    assert "Traceback" not in res.output and res.exit_code in (1, 3)


def test_explain_and_errors_print_as_they_are() -> None:
    res = run("explain", "[/red]")
    assert res.exit_code == 2 and "'[/red]'" in res.stderr
    res = run("explain", "CKF030")
    assert res.exit_code == 0 and "CKF030 written-by-sine-v1" in res.stdout


def test_install_hint_keeps_its_brackets(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the png extra were not installed
    res = run("inspect", FIXTURES / "sine-ok", "--plot-file", tmp_path / "lr.png")
    assert res.exit_code == 2
    assert "pip install 'ckptfix[png]'" in res.stderr


def test_the_progress_line_prints_a_folder_name_as_it_is(tmp_path: Path) -> None:
    """The progress line (on stderr, only when it is a terminal: a real pty here) is the one place Rich
    parses markup (its description column): a checkpoint named ``checkpoint-30-exp[lora][bold]x`` (the
    latest, so the last one the line shows) must show as it is, not as "exp" and a bold "x"."""
    name = "checkpoint-30-exp[lora][bold]x"
    out = tmp_path / "out"
    shutil.copytree(FIXTURES / "sine-ok" / "checkpoint-30", out / "checkpoint-10")
    shutil.copytree(FIXTURES / "sine-ok" / "checkpoint-30", out / name)
    raw, code = pty_run([sys.executable, "-m", "ckptfix", "inspect", "out", "--step", "30"], 120, tmp_path)
    text = raw.decode("utf-8", "replace")
    assert code == 0 and "Traceback" not in text, text[-2000:]
    assert "reading checkpoints" in text  # the progress line was drawn
    assert f"read {name}" in text, text[:3000]
