"""The docs stay true: the README's commands are what CI runs, every transcript is what the tool prints
now, every finding code is documented with its fix, and every relative link leads somewhere."""

from __future__ import annotations

import importlib.util
import re

from ckptfix.analysis.findings import RULES
from tests.helpers import ROOT

README = (ROOT / "README.md").read_text()
DOCS = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]


def _make_transcripts():
    spec = importlib.util.spec_from_file_location("make_transcripts", ROOT / "docs" / "make_transcripts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ci_runs_the_readme_test_command() -> None:
    commands = re.findall(r"^    (python3 -m venv .+)$", README, re.M)
    assert len(commands) >= 2, "the README opens with the run and the test commands"
    run_cmd, test_cmd = commands[0], commands[1]
    assert README.index(run_cmd) < 400, "the run command is among the README's first lines"
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd in ci
    assert "ckptfix inspect fixtures/" in run_cmd and (ROOT / run_cmd.split()[-1]).is_dir()


def test_the_readme_is_short() -> None:
    assert len(README.splitlines()) < 200


def test_every_finding_code_is_documented_with_its_fix() -> None:
    findings = (ROOT / "docs" / "findings.md").read_text()
    for code, rule in RULES.items():
        row = next((line for line in findings.splitlines() if line.startswith(f"| {code} | `{rule.name}` |")), None)
        assert row is not None, code
        assert rule.fix.replace("|", "\\|") in row, code


def test_transcripts_and_generated_tables_are_current() -> None:
    stale = _make_transcripts().stale(write=False)
    assert not stale, f"run: python docs/make_transcripts.py (stale: {', '.join(stale)})"


def test_every_transcript_marker_is_known_and_used() -> None:
    mt = _make_transcripts()
    used = set()
    for path in DOCS:
        used |= set(re.findall(r"<!-- transcript: ([\w-]+) -->", path.read_text()))
    assert used == set(mt.TRANSCRIPTS)


def test_relative_links_lead_somewhere() -> None:
    bad = []
    for path in DOCS:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
            if "://" in target:
                continue
            if not (path.parent / target).exists():
                bad.append(f"{path.relative_to(ROOT)}: {target}")
    assert not bad, "\n".join(bad)
