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
