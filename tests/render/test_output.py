"""Output a script can read (issue #19 item 11): when stdout is not a terminal, no line of text is wrapped
(whatever the width and the path's length) and no line ends in padding; a stdout that is not UTF-8 gets
ASCII (``->``), never exit 5. The terminal's own layout is tests/cli/test_terminal.py's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ckptfix._cli import app  # noqa: PLC2701 - the tests drive the CLI's Typer app
from tests.helpers import FIXTURES

NARROW = {"COLUMNS": "80"}  # Rich's width for output that is not a terminal, and the tests' usual terminal


def long_run(tmp_path: Path, fixture: str) -> Path:
    """``fixture`` copied under a folder whose path alone is longer than 80 columns."""
    run = tmp_path / ("a-very-long-experiment-name-" * 4) / fixture
    shutil.copytree(FIXTURES / fixture, run)
    return run


def lines(*args: object) -> tuple[int, list[str]]:
    res = CliRunner().invoke(app, [str(a) for a in args], env=NARROW)
    return res.exit_code, res.stdout.splitlines()


def test_piped_lines_are_never_wrapped_nor_padded(tmp_path: Path) -> None:
    run = long_run(tmp_path, "output-run")
    code, out = lines("inspect", run, "--latest", "--quiet")
    assert code == 0 and out == [f"{run / 'checkpoint-30'}: consistent; exit 0", "→ nothing to fix: safe to resume"]
    code, out = lines("inspect", run)
    assert code == 0 and out[-2:] == [f"{run}: 4 checkpoints, 4 consistent; exit 0", "→ nothing to fix: safe to resume"]
    assert all(line == line.rstrip() for line in out), [line for line in out if line != line.rstrip()][:3]
    assert "checkpoint-30 *           30   sine      consistent   —" in out  # the table: laid out, unpadded
    code, out = lines("repair", run)
    assert code == 0 and f"{run}: 4 nothing to do; exit 0" in out
    assert f"{run}: nothing to do in 4 consistent checkpoints: checkpoint-10, checkpoint-20, checkpoint-25-rolling, checkpoint-30" in out
    v1 = long_run(tmp_path, "sine-v1")
    code, out = lines("inspect", v1, "--latest", "-q")
    assert code == 1 and out == [f"{v1 / 'checkpoint-30'}: findings, 2 errors (CKF030, CKF115); exit 1",
                                 f"→ ckptfix repair {v1} --latest --optimizer-lr --dry-run"]


def test_a_real_pipe_gets_whole_lines(tmp_path: Path) -> None:
    run = long_run(tmp_path, "sine-v2")
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}  # Rich's default: 80
    p = subprocess.run([sys.executable, "-m", "ckptfix", "inspect", str(run), "--latest", "--quiet"],
                       capture_output=True, text=True, encoding="utf-8", env=env, timeout=120)
    assert p.returncode == 1 and p.stdout.splitlines() == [
        f"{run / 'checkpoint-30'}: findings, 2 errors (CKF031, CKF115); exit 1",
        f"→ ckptfix repair {run} --latest --optimizer-lr --dry-run"], p.stdout


COMMANDS = [("inspect {run}", 1), ("inspect {run} --latest --quiet", 1), ("inspect {run} --plot", 1),
            ("repair {run} --optimizer-lr", 0), ("restore {run} --latest --list", 0), ("explain CKF030", 0)]


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
def test_a_stdout_that_is_not_utf8_gets_ascii_not_exit_5(tmp_path: Path, encoding: str) -> None:
    """PYTHONIOENCODING=ascii, or a Windows console's cp1252 (it has no →): every command ends with its
    own exit code, and what it prints is ASCII where the encoding cannot hold it (``->`` for ``→``)."""
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "sine-v1", run)
    env = dict(os.environ, PYTHONIOENCODING=encoding)
    for command, code in COMMANDS:
        args = command.format(run=run).split()
        p = subprocess.run([sys.executable, "-m", "ckptfix", *args], capture_output=True, env=env, timeout=120)
        err = p.stderr.decode(encoding, "replace")
        assert p.returncode == code and "internal error" not in err, (command, p.returncode, err[-500:])
        out = p.stdout.decode(encoding)  # what the encoding holds, and only that
        assert "→" not in out and "\\u" not in out  # ckptfix's own characters in ASCII, never as escapes
        if command == "inspect {run} --latest --quiet":
            assert out.splitlines()[-1] == f"-> ckptfix repair {run} --latest --optimizer-lr --dry-run"
