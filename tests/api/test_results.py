"""Typed results are the --json document: inspect --json is result.to_json(), field for field."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

import ckptfix
from ckptfix._cli import app  # noqa: PLC2701 - the tests drive the CLI's Typer app
from ckptfix.api.results import CheckResult, Result
from tests.helpers import FIXTURES

NAMES = ["sine-ok", "sine-v1", "sine-v2", "missing-scheduler", "truncated", "hostile", "lambdalr", "output-run",
         "trainers/hf-trainer-tf4", "trainers/accelerate-deepspeed", "trainers/accelerate-fsdp"]


def records_only(r: Result) -> None:
    """Every field is a record, a tuple, or a plain value; dicts and lists only for values taken from a
    checkpoint or its run's configuration (a finding's found / expected, a scheduler's values, a schedule input's
    value, the position keys a rewrite writes)."""
    for name in r.__record_fields__:
        v = getattr(r, name)
        if isinstance(v, (dict, list)):
            assert name in ("values", "found", "expected", "value", "rewrite"), name
        for x in v if isinstance(v, tuple) else (v,):
            if isinstance(x, Result):
                records_only(x)


@pytest.mark.parametrize("name", NAMES)
def test_inspect_json_is_the_result(name):
    res = CliRunner().invoke(app, ["inspect", str(FIXTURES / name), "--json"])
    result = ckptfix.check(FIXTURES / name, latest=False)
    assert isinstance(result, CheckResult)
    assert json.loads(res.stdout) == result.to_json()
    records_only(result)


def test_values_are_plain_json():
    result = ckptfix.check(FIXTURES / "sine-v2")
    (sched,) = result.checkpoints[0].schedulers
    assert sched.values["total_steps"] == 30 and sched.reference.last_lr == (1e-4,)
    text = json.dumps(result.to_json(), allow_nan=False)
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in json.loads(text)["checkpoints"][0]["schedulers"][0]["values"].values())


def test_the_json_gate_imports_no_repair_code():
    import subprocess
    import sys

    code = ("import sys; from ckptfix._cli import main; sys.argv = ['ckptfix', 'inspect', sys.argv[1], '--json']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith(('ckptfix.repair', 'rich.console'))), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, str(FIXTURES / "sine-v1")], capture_output=True, text=True)
    assert proc.stderr.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("name", NAMES)
def test_the_result_carries_what_the_human_output_shows(name):
    """The console draws each panel from the result (render/console.py): what it shows of an optimizer that could
    not be read, how a profile was recognised, and which state file gave the step are in it, as the analysis has them."""
    from ckptfix.analysis.run import inspect_path
    from ckptfix.api.results import check_result

    disc, reports = inspect_path(FIXTURES / name)
    result = check_result(disc, reports, 0)
    for r, c in zip(reports, result.checkpoints, strict=True):
        assert [o.problem for o in c.optimizers] == [o.problem.message if o.problem else None
                                                      for o in r.checkpoint.optimizers]
        assert [s.basis for s in c.schedulers] == [sr.match.basis if sr.match else None for sr in r.schedulers]
        assert all((s.basis is None) == (s.profile is None) for s in c.schedulers)
        ts = r.checkpoint.training_state
        assert c.steps.state_file == (ts.source if ts is not None else None)


def test_an_optimizer_that_cannot_be_read_says_why(tmp_path):
    import shutil

    shutil.copytree(FIXTURES / "sine-ok", tmp_path / "run")
    opt = tmp_path / "run" / "checkpoint-30" / "optimizer.bin"
    opt.write_bytes(opt.read_bytes()[:100])  # truncated: not a zip any more
    result = ckptfix.check(tmp_path / "run" / "checkpoint-30")
    (o,) = result.checkpoints[0].optimizers
    assert o.problem  # why it could not be read (the analysis's message)
    res = CliRunner().invoke(app, ["inspect", str(tmp_path / "run" / "checkpoint-30")], terminal_width=200)
    assert "optimizer.bin: step" not in res.output  # the panel's optimizer line is for files that were read
