"""Every command in a real pseudo-terminal at 80 and 120 columns: no token split across lines, no line
wider than the terminal, no Rich markup or backtick leaking into what a user reads.

Each command runs as a process (``python -m ckptfix``) on a pty of the given size, as a user would run
it; a small terminal model (carriage return, erase line, cursor up, the deferred wrap at the last
column; colours ignored) turns the bytes into the lines the user sees. A token is split when a word on
screen is not a word of the same command's output on a 400-column terminal (numbers aside: plot ticks
differ with the width).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import struct
import subprocess
import sys
import termios
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ckptfix._cli import app  # noqa: PLC2701 - the tests drive the CLI's Typer app
from tests.helpers import FIXTURES

WIDTHS = (80, 120)
WIDE = 400
RUN_WITH_V1 = {"output": "output-run", "output/checkpoint-30": "sine-v1/checkpoint-30"}

# name -> (fixtures to copy, ckptfix commands run first in-process, the command under test)
SCENARIOS: dict[str, tuple[dict[str, str], list[str], str]] = {
    "inspect-folder": (RUN_WITH_V1, [], "inspect output"),
    "inspect-latest": (RUN_WITH_V1, [], "inspect output --latest"),
    "inspect-quiet": (RUN_WITH_V1, [], "inspect output --latest --quiet"),
    "inspect-warning": ({"checkpoint-30": "sine-v2/checkpoint-30"}, [], "inspect checkpoint-30 --lr-end 1e-5"),
    "inspect-hostile": ({"hostile": "hostile"}, [], "inspect hostile"),
    "inspect-step": ({"checkpoint-30": "step-mismatch/checkpoint-30"}, [], "inspect checkpoint-30"),
    "inspect-plot": (RUN_WITH_V1, [], "inspect output --plot"),
    "repair-dry-run": (RUN_WITH_V1, [], "repair output --latest --dry-run"),
    "repair": (RUN_WITH_V1, [], "repair output --latest --optimizer-lr"),
    "repair-refused": ({"checkpoint-30": "missing-scheduler/checkpoint-30"}, [], "repair checkpoint-30"),
    "repair-folder": (RUN_WITH_V1, [], "repair output --dry-run"),
    "restore-list": (RUN_WITH_V1, ["repair output --latest"], "restore output --latest --list"),
    "restore": (RUN_WITH_V1, ["repair output --latest"], "restore output --latest"),
    "explain": ({}, [], "explain CKF030"),
    "explain-all": ({}, [], "explain"),
    "help": ({}, [], "--help"),
    "help-inspect": ({}, [], "inspect --help"),
    "help-repair": ({}, [], "repair --help"),
    "help-restore": ({}, [], "restore --help"),
    "help-explain": ({}, [], "explain --help"),
}

_ESC = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|\][^\x07]*\x07|[()][A-Z0-9])")
_SPLIT = re.compile(r"[\s│┃║╭╮╰╯─━═┏┓┗┛┡┩╇┳┻╋┣┫┬┴┼├┤└┘┌┐▏▕\u2800-\u28ff]+")
_MARKUP = re.compile(r"\[/?(?:red|bold|green|yellow|cyan|dim|magenta|blue|white|italic|link)\b[^\]]*\]|\[/\]")


def screen(raw: bytes, cols: int) -> list[str]:
    """The lines a terminal of ``cols`` columns shows after ``raw`` (no scrolling limit)."""
    text = raw.decode("utf-8", "replace")
    lines: list[list[str]] = [[]]
    row = col = 0
    pending = False  # the cursor sits past the last column: the next character wraps
    pos = 0
    while pos < len(text):
        m = _ESC.match(text, pos)
        if m:
            seq = m.group(1)
            if seq.endswith("K"):  # erase the line (2K) or to its end (K)
                lines[row] = [] if seq.startswith("[2") else lines[row][:col]
            elif seq.endswith("A"):  # cursor up
                row = max(0, row - int(seq[1:-1] or 1))
                pending = False
            pos = m.end()
            continue
        ch = text[pos]
        pos += 1
        if ch == "\r":
            col, pending = 0, False
        elif ch == "\n":
            row, pending = row + 1, False
            while len(lines) <= row:
                lines.append([])
        elif ch >= " ":
            if pending:
                row, col, pending = row + 1, 0, False
                while len(lines) <= row:
                    lines.append([])
            line = lines[row]
            line.extend(" " * (col - len(line)))
            if col < len(line):
                line[col] = ch
            else:
                line.append(ch)
            col += 1
            if col == cols:
                pending = True
    return ["".join(line).rstrip() for line in lines]


def pty_run(argv: list[str], cols: int, cwd: Path) -> tuple[bytes, int]:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 60, cols, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "CI")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, start_new_session=True)
    os.close(slave)
    out = b""
    try:
        while True:
            try:
                data = os.read(master, 1 << 16)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            out += data
    finally:
        os.close(master)
    return out, proc.wait(timeout=120)


def prepare(where: Path, name: str) -> None:
    setup, before, _ = SCENARIOS[name]
    where.mkdir(parents=True)
    for dest, src in setup.items():
        if (where / dest).exists():
            shutil.rmtree(where / dest)
        shutil.copytree(FIXTURES / src, where / dest)
    cwd = os.getcwd()
    os.chdir(where)
    try:
        for command in before:
            assert CliRunner().invoke(app, command.split()).exit_code in (0, 1)
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def screens(tmp_path_factory) -> dict[tuple[str, int], list[str]]:
    """Every scenario at 80, 120 and 400 columns, two processes at a time."""
    root = tmp_path_factory.mktemp("terminal")
    jobs = []
    for name in SCENARIOS:
        for cols in (*WIDTHS, WIDE):
            where = root / f"{name}-{cols}"
            prepare(where, name)
            jobs.append((name, cols, where))

    def one(job):
        name, cols, where = job
        raw, _ = pty_run([sys.executable, "-m", "ckptfix", *SCENARIOS[name][2].split()], cols, where)
        return (name, cols), screen(raw, cols)

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(one, jobs))


_STAMP = re.compile(r"\d{8}T\d{6}\.\d{6}Z")  # a backup folder's UTC time differs from run to run


def words(lines: list[str]) -> set[str]:
    return {_STAMP.sub("STAMP", w) for line in lines for w in _SPLIT.split(line) if w}


@pytest.mark.parametrize("cols", WIDTHS)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_no_token_split_no_overflow_no_markup(screens, name: str, cols: int) -> None:
    lines = screens[(name, cols)]
    text = "\n".join(lines)
    assert "Traceback" not in text
    assert len([line for line in lines if line]) > 0
    too_wide = [line for line in lines if len(line) > cols]
    assert not too_wide, too_wide[:3]
    assert not _MARKUP.search(text), _MARKUP.search(text)
    assert "`" not in text
    reference = words(screens[(name, WIDE)])
    split = sorted(w for w in words(lines) - reference if not re.fullmatch(r"[\d.,e+-]+", w))
    assert not split, f"tokens at {cols} columns that are not words at {WIDE}: {split[:12]}\n{text}"


def test_the_terminal_model() -> None:
    raw = b"abc\r\x1b[2Kdone\r\n" + b"x" * 10 + b"\r\n" + b"y" * 12 + b"\x1b[1mz\x1b[0m\r\nend"
    assert screen(raw, 10) == ["done", "x" * 10, "y" * 10, "yyz", "end"]
    assert screen(b"line one\r\n\x1b[1A\x1b[2Knew\r\n", 80) == ["new", ""]
