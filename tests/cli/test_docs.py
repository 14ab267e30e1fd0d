"""The README stays true: its commands are what CI runs, and every finding code is documented."""

from __future__ import annotations

import re

from ckptfix.analysis.findings import RULES
from tests.helpers import ROOT

README = (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command() -> None:
    commands = re.findall(r"^    (python3 -m venv .+)$", README, re.M)
    assert len(commands) >= 2, "the README opens with the run and the test commands"
    run_cmd, test_cmd = commands[0], commands[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd in ci
    assert "ckptfix inspect fixtures/" in run_cmd and (ROOT / run_cmd.split()[-1]).is_dir()


def test_every_finding_code_is_in_the_readme() -> None:
    """In the README's findings table, or (while that table moves) in a table under docs/."""
    docs = README + "".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))
    for code, rule in RULES.items():
        assert f"| {code} | `{rule.name}` |" in docs, code


TRANSCRIPT_COMMANDS = (
    "inspect out/checkpoint-20 --trainer simpletuner==3.1.6",
    "repair out/checkpoint-20 --trainer simpletuner==3.1.6",
    "inspect out/checkpoint-20 --trainer simpletuner==3.1.6",
)
_BACKUP = re.compile(r"backup-\d{8}T\d{6}\.\d{6}Z")


def trainers_transcript(workdir) -> str:
    """docs/trainers.md's resume-preview transcript, run in a copy of the fixture (80 columns)."""
    import os
    import shutil
    import subprocess
    import sys

    out = workdir / "out"
    out.mkdir()
    shutil.copytree(ROOT / "fixtures/simpletuner_runs/b-n1-7-batches-per-epoch/fixed/checkpoint-20", out / "checkpoint-20")
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}
    parts = []
    for cmd in TRANSCRIPT_COMMANDS:
        r = subprocess.run([sys.executable, "-m", "ckptfix", *cmd.split()], cwd=workdir, env=env,
                           capture_output=True, text=True)
        parts.append(f"$ ckptfix {cmd}\n{r.stdout}{r.stderr}# exit {r.returncode}\n")
    return _BACKUP.sub("backup-YYYYMMDDTHHMMSS.ffffffZ", "".join(parts))


def test_trainers_transcript_is_what_ckptfix_prints(tmp_path) -> None:
    doc = (ROOT / "docs" / "trainers.md").read_text()
    shown = doc.split("<!-- transcript: tests/cli/test_docs.py re-runs these commands in a copy of the fixture -->")[1]
    shown = shown.split("```", 2)[1].lstrip("\n")
    assert shown == trainers_transcript(tmp_path)
