"""ckptfix.check / ckptfix.repair: the CLI's pipelines as functions, typed results, a cheap import."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import ckptfix
from ckptfix._cli import app  # noqa: PLC2701 - the tests drive the CLI's Typer app
from tests.helpers import FIXTURES

pytestmark = pytest.mark.smoke  # runs from the wheel on every Python, without torch (.ci/run)


@pytest.mark.parametrize("name, code", [("sine-ok", 0), ("sine-v1", 1), ("missing-scheduler", 1), ("hostile", 3),
                                        ("output-run", 0)])
def test_check_gives_the_gate_exit_code(name, code):
    result = ckptfix.check(FIXTURES / name)
    assert isinstance(result, ckptfix.CheckResult)
    assert result.exit_code == code and result.ok == (code == 0)
    assert all(isinstance(c, ckptfix.CheckpointResult) for c in result.checkpoints)
    assert all(isinstance(f, ckptfix.FindingResult) and f.fix for f in result.findings)


def test_check_latest_by_default_and_every_checkpoint_on_request():
    assert [c.name for c in ckptfix.check(FIXTURES / "output-run").checkpoints] == ["checkpoint-30"]
    every = ckptfix.check(FIXTURES / "output-run", latest=False)
    assert [c.name for c in every.checkpoints] == ["checkpoint-10", "checkpoint-20", "checkpoint-25-rolling", "checkpoint-30"]


def test_check_options_are_the_cli_flags():
    result = ckptfix.check(FIXTURES / "sine-ok", lr_end=2e-6)
    (f,) = result.findings
    assert (f.code, f.key, f.found, f.expected) == ("CKF060", "eta_min", 1e-6, 2e-6)
    assert ckptfix.check(FIXTURES / "sine-ok", lr_end=2e-6, strict=True).exit_code == 1


def test_trainer_and_target_are_the_cli_flags():
    result = ckptfix.check(FIXTURES / "sine-v2", trainer="simpletuner==3.1.6", target="simpletuner-sine-v2")
    (ck,) = result.checkpoints
    assert ck.target == "simpletuner-sine-v2" and ck.trainer.source == "--trainer simpletuner==3.1.6"
    assert [r.label for r in ck.trainer.releases] == ["SimpleTuner 1.0 to < 4.9.3"]
    assert "CKF031" not in {f.code for f in result.findings}  # v2 is the target: not a finding
    assert "CKF031" in {f.code for f in ckptfix.check(FIXTURES / "sine-v2").findings}


def test_usage_error_for_a_bad_path(tmp_path):
    """The CLI's contract: a missing PATH is a usage error (exit 2) without --latest, and a file always is."""
    with pytest.raises(ckptfix.UsageError):
        ckptfix.check(tmp_path / "nope", latest=False)
    with pytest.raises(ckptfix.UsageError):
        ckptfix.repair(tmp_path / "nope", latest=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ckptfix.UsageError, match="not a folder"):
        ckptfix.check(tmp_path / "file")
    assert issubclass(ckptfix.UsageError, ckptfix.CkptfixError)


def test_a_run_before_its_first_checkpoint_is_nothing_to_resume(tmp_path):
    """The README's training-script line on a first launch: the output folder does not exist yet. As
    `inspect --latest` exits 4, check() says "nothing to resume" (launch), never raises."""
    missing = tmp_path / "not-yet-created"
    result = ckptfix.check(missing)
    assert (result.exit_code, result.status, result.launch, result.ok) == (4, "nothing-to-resume", True, False)
    assert result.checkpoints == () and result.next is None and result.root == str(missing)
    assert "nothing to resume" in result.latest_reason and "no such file" in result.latest_reason
    cli = CliRunner().invoke(app, ["inspect", str(missing), "--latest", "--json"])
    assert cli.exit_code == result.exit_code == json.loads(cli.stdout)["exit_code"]
    fixed = ckptfix.repair(missing)
    assert (fixed.exit_code, fixed.launch, fixed.checkpoints) == (4, True, ())
    (tmp_path / "empty").mkdir()  # an output folder without checkpoints: the same verdict
    assert ckptfix.check(tmp_path / "empty").launch and ckptfix.check(tmp_path / "empty").exit_code == 4


@pytest.mark.parametrize("fixture, code, launch", [("sine-ok", 0, True), ("sine-v1", 1, False),
                                                   ("truncated", 3, False)])
def test_launch_is_the_gate_s_advice(fixture, code, launch):
    """`result.launch` is "launch on 0 and 4" (docs/exit-codes.md); `ok` is "consistent" (0) only."""
    result = ckptfix.check(FIXTURES / fixture)
    assert (result.exit_code, result.launch, result.ok) == (code, launch, code == 0)


def test_repair_applies_and_returns_what_repair_json_prints(tmp_path):
    shutil.copytree(FIXTURES / "sine-v2", tmp_path / "a")
    shutil.copytree(FIXTURES / "sine-v2", tmp_path / "b")
    dry = ckptfix.repair(tmp_path / "a", dry_run=True)
    assert isinstance(dry, ckptfix.RepairResult) and dry.exit_code == 1 and dry.checkpoints[0].status == "dry-run"
    assert "CKF115" in {f.code for f in dry.checkpoints[0].findings_before}  # v2's lr in optimizer.bin
    done = ckptfix.repair(tmp_path / "a", optimizer_lr=True)
    assert done.ok and done.checkpoints[0].status == "applied" and done.checkpoints[0].backup
    assert ckptfix.check(tmp_path / "a").ok
    cli = json.loads(CliRunner().invoke(app, ["repair", str(tmp_path / "b"), "--json", "--optimizer-lr"]).stdout)
    mine = done.to_json()
    for doc in (cli, mine):
        for ck in doc["checkpoints"]:
            ck["backup"] = ck["path"] = ck["written"] = None
            for f in ck["findings_before"] + ck["findings_after"]:
                f["file"] = f["file"].rsplit("/", 1)[-1] if f["file"] else None
            for c in ck["changes"] + ck["files"] + ck["profile_before"] + ck["profile_after"]:
                c["file"] = c["file"].rsplit("/", 1)[-1]
        doc["root"] = doc["latest"] = None
    assert cli == mine


def test_import_is_cheap():
    code = ("import sys, ckptfix; ckptfix.__version__; print(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('torch', 'numpy', 'rich', 'typer') or m.startswith('ckptfix.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    code = "import sys, ckptfix; ckptfix.check; print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy', 'rich')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_public_names():
    assert set(ckptfix.__all__) <= set(dir(ckptfix))
    for name in ckptfix.__all__:
        assert getattr(ckptfix, name) is not None
    with pytest.raises(AttributeError):
        ckptfix.nope  # noqa: B018


def test_repair_is_callable_and_stays_the_package():
    code = ("import inspect, sys, ckptfix\nfrom ckptfix.repair.plan import plan_repair\nimport ckptfix.repair.restore\n"
            "from ckptfix.repair import apply\n"
            "assert ckptfix.repair is sys.modules['ckptfix.repair'] and callable(ckptfix.repair)\n"
            "import ckptfix.repair.run\nassert ckptfix.repair.run.repair_path and ckptfix.repair.plan.plan_repair is plan_repair\n"
            "assert 'dry_run' in inspect.signature(ckptfix.repair).parameters\n"
            "from ckptfix import repair; assert repair is ckptfix.repair\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    code = "import ckptfix; r = ckptfix.repair; import sys; assert r is sys.modules['ckptfix.repair'] and callable(r)"
    subprocess.run([sys.executable, "-c", code], check=True)  # reached first through ckptfix, not an import


def test_monkeypatch_reaches_the_repair_package(monkeypatch):
    import ckptfix.repair.run

    monkeypatch.setattr("ckptfix.repair.run.repair_path", lambda *a, **k: "patched")
    assert ckptfix.repair.run.repair_path() == "patched"
