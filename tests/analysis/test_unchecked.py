""""Unchecked" (issue 21 item 5): it names what is not checked and what the check would need, it never ends with
"safe to resume", and --strict makes it exit 1. Real checkpoints: fixtures/resumes (accelerate's save_state with
torch's schedulers, the diffusers scripts' LambdaLR), each resumed for real there."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ckptfix._cli import app
from ckptfix.analysis.report import Options
from ckptfix.analysis.run import inspect_path
from ckptfix.analysis.unchecked import unchecked_note
from tests.helpers import FIXTURES

RESUMES = FIXTURES / "resumes"


def _latest(case: str, **opts):
    _disc, (report,) = inspect_path(RESUMES / case / "output", Options(**opts), latest_only=True)
    return report


@pytest.mark.parametrize(("case", "words"), [
    ("accelerate/lambdalr", ["scheduler.bin (LambdaLR", "its position (last_epoch 8 at step 8) is checked, its LRs are not",
                             "pass --lr-scheduler NAME"]),
    ("diffusers/linear", ["LambdaLR or MultiplicativeLR", "pass --lr-scheduler NAME"]),
    ("accelerate/reducelronplateau", ["ReduceLROnPlateau", "there is no position to check"]),
    ("transformers/reduce-lr-on-plateau", ["scheduler.pt (ReduceLROnPlateau)", "there is no position to check"]),
    ("accelerate/onecyclelr", ["OneCycleLR", "needs max_lr, min_lr from the optimizer's param groups"]),
])
def test_unchecked_names_what_is_not_checked(case: str, words: list[str]) -> None:
    report = _latest(case)
    assert report.verdict == "unchecked" and report.exit_code == 0
    note = unchecked_note(report)
    assert all(w in note for w in words), note
    assert "not that the resume follows its schedule" in note


def test_a_checked_checkpoint_has_no_note() -> None:
    assert unchecked_note(_latest("accelerate/cawr-at-restart", num_processes=1)) is None


def run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def test_the_gate_never_says_safe_to_resume_when_nothing_was_checked() -> None:
    out = RESUMES / "diffusers" / "linear" / "output"
    res = run("inspect", out, "--latest", "--quiet")
    assert res.exit_code == 0
    last = res.output.strip().splitlines()[-1]
    assert last.startswith("→ not checked: scheduler.bin (LambdaLR") and "safe to resume" not in res.output
    res = run("repair", out, "--latest", "--dry-run")
    assert res.exit_code == 0 and "safe to resume" not in res.output and "not checked" in res.output
    doc = json.loads(run("inspect", out, "--latest", "--json").stdout)
    assert doc["checkpoints"][0]["verdict"] == "unchecked" and "LambdaLR" in doc["checkpoints"][0]["unchecked"]
    assert doc["next"] is None
    consistent = json.loads(run("inspect", FIXTURES / "sine-ok", "--json").stdout)
    assert consistent["checkpoints"][0]["unchecked"] is None


def test_strict_makes_unchecked_exit_1() -> None:
    out = RESUMES / "accelerate" / "lambdalr" / "output"
    report = _latest("accelerate/lambdalr", strict=True)
    assert (report.verdict, report.exit_code) == ("unchecked", 1)
    res = run("inspect", out, "--latest", "--strict", "--json")
    doc = json.loads(res.stdout)
    assert res.exit_code == 1 and doc["exit_code"] == 1 and doc["checkpoints"][0]["verdict"] == "unchecked"
    assert run("repair", out, "--latest", "--strict", "--dry-run").exit_code == 1
    assert run("inspect", FIXTURES / "sine-ok", "--strict").exit_code == 0  # a checked checkpoint is not affected
    # torch's StepLR keeps its parameters: its LRs are checked from the state, so --strict does not apply
    assert run("inspect", RESUMES / "accelerate" / "steplr" / "output", "--latest", "--strict").exit_code == 0
