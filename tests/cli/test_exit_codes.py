"""Exit codes 4 (nothing to resume) and 5 (internal error), in --help, --json and docs/exit-codes.md."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ckptfix import _cli
from ckptfix._cli import app
from ckptfix.analysis.findings import RULES, exit_code, make_finding
from ckptfix.exitcodes import CODES, FINDINGS, NOTHING_TO_RESUME, OK, UNREADABLE, worst
from tests.helpers import FIXTURES, ROOT

pytestmark = pytest.mark.smoke  # runs from the wheel on every Python, without torch (.ci/run)

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def test_the_code_of_several_is_the_worst() -> None:
    """One rule for every command: 3 > 1 > 0 over checkpoints, files and refusals; nothing checked is 4."""
    assert worst([OK, UNREADABLE, FINDINGS]) == UNREADABLE and worst([OK, FINDINGS, OK]) == FINDINGS
    assert worst([]) == OK and worst([], NOTHING_TO_RESUME) == NOTHING_TO_RESUME
    by_severity = {sev: next(make_finding(c, None, None, None, None, "m") for c, r in RULES.items() if r.severity == sev)
                   for sev in ("info", "warning", "error", "fatal")}
    assert [exit_code([f]) for f in by_severity.values()] == [OK, OK, FINDINGS, UNREADABLE]
    assert exit_code([by_severity["warning"]], strict=True) == FINDINGS
    assert exit_code(list(by_severity.values())) == UNREADABLE  # the worst severity wins, in any order
    assert exit_code([by_severity["fatal"]], waived=frozenset({by_severity["fatal"].code})) == OK


@pytest.mark.parametrize("command", ["inspect", "repair"])
def test_missing_output_folder_with_latest_is_nothing_to_resume(tmp_path: Path, command: str) -> None:
    res = run(command, tmp_path / "not-yet", "--latest")
    assert res.exit_code == 4, res.output
    assert "nothing to resume" in res.stderr and str(tmp_path / "not-yet") in res.stderr
    res = run(command, tmp_path / "not-yet", "--latest", "--json")
    doc = json.loads(res.stdout)
    assert res.exit_code == 4 and doc["exit_code"] == 4 and doc["status"] == "nothing-to-resume"
    assert doc["checkpoints"] == [] and "no such file" in doc["error"]


def test_missing_path_without_latest_stays_a_usage_error(tmp_path: Path) -> None:
    res = run("inspect", tmp_path / "typo")
    assert res.exit_code == 2 and "no such file" in res.stderr
    res = run("inspect", tmp_path / "typo", "--json")
    assert res.exit_code == 2 and json.loads(res.stdout)["status"] == "usage-error"
    (tmp_path / "file").write_text("x")
    assert run("inspect", tmp_path / "file", "--latest").exit_code == 2


@pytest.mark.parametrize("command", ["inspect", "repair"])
@pytest.mark.parametrize("latest", [True, False])
def test_empty_or_only_tmp_is_nothing_to_resume(tmp_path: Path, command: str, latest: bool) -> None:
    flags = ["--latest"] if latest else []
    out = tmp_path / "run"
    out.mkdir()
    assert run(command, out, *flags).exit_code == 4
    (out / "logs").mkdir()
    (out / "config.json").write_text("{}")
    assert run(command, out, *flags).exit_code == 4
    shutil.copytree(FIXTURES / "output-run" / "checkpoint-40-tmp", out / "checkpoint-40-tmp")
    res = run(command, out, *flags, "--json")
    doc = json.loads(res.stdout)
    assert res.exit_code == 4 and doc["status"] == "nothing-to-resume"
    assert [s["path"] for s in doc["skipped"]] == [str(out / "checkpoint-40-tmp")]
    assert run(command, out / "checkpoint-40-tmp", *flags).exit_code == 4


def test_json_carries_status_for_every_outcome() -> None:
    for folder, code, status in (("sine-ok", 0, "ok"), ("sine-v1", 1, "findings"), ("hostile", 3, "unreadable")):
        res = run("inspect", FIXTURES / folder, "--json")
        doc = json.loads(res.stdout)
        assert res.exit_code == doc["exit_code"] == code and doc["status"] == status
        res = run("repair", FIXTURES / folder, "--dry-run", "--json")
        doc = json.loads(res.stdout)
        assert res.exit_code == doc["exit_code"] and doc["status"] == CODES[doc["exit_code"]][0]


def _boom(*args, **kwargs):
    raise RuntimeError("boom: a bug")


@pytest.mark.parametrize("command, target", [("inspect", "ckptfix.analysis.run.inspect_path"),
                                             ("repair", "ckptfix.repair.run.repair_path")])
def test_internal_error_is_exit_5_with_one_line(monkeypatch, command: str, target: str) -> None:
    monkeypatch.setattr(target, _boom)
    monkeypatch.delenv("CKPTFIX_DEBUG", raising=False)
    res = run(command, FIXTURES / "sine-ok")
    assert res.exit_code == 5, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr
    assert f"ckptfix {command}: internal error (RuntimeError: boom: a bug)" in lines[0]
    assert "bug" in lines[0] and "--debug" in lines[0]
    res = run(command, FIXTURES / "sine-ok", "--json")
    doc = json.loads(res.stdout)
    assert res.exit_code == doc["exit_code"] == 5 and doc["status"] == "internal-error" and "boom" in doc["error"]
    res = run("--debug", command, FIXTURES / "sine-ok")
    assert res.exit_code == 5 and "Traceback" in res.stderr and "_boom" in res.stderr


def test_internal_error_through_the_entry_point(monkeypatch, capsys) -> None:
    """``main()`` (the installed script): exit 5, never 1, also for an error outside a command body."""
    monkeypatch.setattr("ckptfix.analysis.run.inspect_path", _boom)
    monkeypatch.setattr(sys, "argv", ["ckptfix", "inspect", str(FIXTURES / "sine-ok")])
    with pytest.raises(SystemExit) as exc:
        _cli.main()
    assert exc.value.code == 5
    monkeypatch.setattr(_cli, "app", _boom)
    with pytest.raises(SystemExit) as exc:
        _cli.main()
    assert exc.value.code == 5 and "internal error" in capsys.readouterr().err


def test_bad_input_is_never_exit_5(tmp_path: Path) -> None:
    """The typed errors of bad input keep their codes (the guard only catches bugs)."""
    assert run("inspect", FIXTURES / "truncated").exit_code == 3
    assert run("explain", "CKF999").exit_code == 2


def test_help_and_docs_state_every_code() -> None:
    text = run("--help").stdout + run("inspect", "--help").stdout + run("repair", "--help").stdout
    doc = (ROOT / "docs" / "exit-codes.md").read_text()
    for code, (status, meaning) in CODES.items():
        assert f"  {code}  {meaning}" in text
        assert f"| {code} | `{status}` |" in doc
    lines = [line for line in run("inspect", "--help").stdout.splitlines() if line.strip()[:3] in {f"{c}  " for c in CODES}]
    assert len(lines) == len(CODES) and all(len(line) <= 80 for line in lines), lines


def test_installed_script_exit_4_and_2(tmp_path: Path) -> None:
    exe = shutil.which("ckptfix", path=str(Path(sys.executable).parent))
    assert exe is not None
    env = dict(os.environ)
    p = subprocess.run([exe, "inspect", str(tmp_path / "nope"), "--latest"], capture_output=True, text=True, env=env)
    assert p.returncode == 4 and p.stdout == "" and "nothing to resume" in p.stderr
    p = subprocess.run([exe, "inspect", str(tmp_path / "nope")], capture_output=True, text=True, env=env)
    assert p.returncode == 2


def test_ctrl_c_is_130_not_1(monkeypatch) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("ckptfix.analysis.run.inspect_path", interrupted)
    res = run("inspect", FIXTURES / "sine-ok")
    assert res.exit_code == 130 and "interrupted" in res.stderr


def test_unreadable_wins_over_findings_within_one_checkpoint(tmp_path: Path) -> None:
    """One checkpoint with an error (CKF030: a v1 scheduler state) and a fatal finding (a truncated
    random_states_0.pkl, as a killed save leaves it): 3, not 1 -- the gate stops rather than repairs --
    for inspect, repair (which refuses: nothing written) and --json alike."""
    shutil.copytree(FIXTURES / "sine-v1", tmp_path / "run")
    ck = tmp_path / "run" / "checkpoint-30"
    rng = ck / "random_states_0.pkl"
    rng.write_bytes(rng.read_bytes()[: rng.stat().st_size // 2])
    doc = json.loads(run("inspect", ck, "--json").stdout)
    severities = {f["severity"] for f in doc["checkpoints"][0]["findings"]}
    assert {"fatal", "error"} <= severities, doc["checkpoints"][0]["findings"]
    assert doc["exit_code"] == doc["checkpoints"][0]["exit_code"] == 3 and doc["status"] == "unreadable"
    assert run("inspect", ck).exit_code == 3
    assert run("inspect", tmp_path / "run", "--latest", "--quiet").exit_code == 3
    scheduler = (ck / "scheduler.bin").read_bytes()
    assert run("repair", ck).exit_code == 3 and (ck / "scheduler.bin").read_bytes() == scheduler
