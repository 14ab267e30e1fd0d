"""Repairs proven by resuming (issue 11): ``ckptfix repair`` on real SimpleTuner 3.1.6 checkpoints, then
SimpleTuner's own code resumes them (``fixtures/simpletuner_runs/harness.py``: its factory, ``Sine``,
``StateTracker``, data loader iterator and the trainer's resume glue of 3.1.6 or 4.10.1).

For each case of the fixtures (N = 1 without an epoch boundary; 7 batches per epoch; N = 2 with and
without ``--num-processes``; gradient accumulation 2 after a resume), the stock checkpoint-20 (v2) is
repaired and resumed with the fixed formula running in the trainer (the recipe of docs/trainers.md): the
LR the optimizer uses at every step after the resume equals the uninterrupted fixed-formula run — or
``repair`` refuses, writes nothing and names the reason.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ckptfix._cli import app  # noqa: PLC2701 - the tests drive the CLI's Typer app
from ckptfix.analysis.report import Options, RunFacts
from ckptfix.repair.run import repair_path
from tests.helpers import FIXTURES, tree_hashes

RUNS = FIXTURES / "simpletuner_runs"
sys.path.insert(0, str(RUNS))

import harness  # noqa: E402

# The README's test command installs simpletuner 3.1.6; under CI a missing one fails, never skips.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("simpletuner") is None and not os.environ.get("CI"),
    reason="simpletuner 3.1.6 not installed (fixtures/simpletuner_runs/README.md)",
)
Q = 1.5e-9  # SimpleTuner stores floor(lr * 1e9) / 1e9


def copy_stock(tmp_path: Path, case: str, folder: str = "checkpoint-20", variant: str = "stock") -> Path:
    dst = tmp_path / case / folder
    shutil.copytree(RUNS / case / variant / folder, dst)
    return dst


def cli(*args: object) -> tuple[int, str]:
    r = CliRunner().invoke(app, [str(a) for a in args])
    return r.exit_code, r.output


def wrong_steps(got: dict[int, float], case: str) -> list[int]:
    want = harness.expected_lrs(case, "fixed")
    assert got and set(got) <= set(want)
    return [k for k in sorted(got) if abs(got[k] - want[k]) > Q]


def resumed(ckpt: Path, case: str, glue: str, **kw) -> dict[int, float]:
    """SimpleTuner resumes ``ckpt`` with the fixed formula swapped into its factory (the recipe)."""
    return harness.resume_lrs(ckpt, harness.load_case(case)["params"], glue=glue, formula="sine", **kw)


@pytest.mark.parametrize("case", ["a-n1-no-boundary", "b-n1-7-batches-per-epoch", "d-ga2-resumed"])
@pytest.mark.parametrize("glue", ["3.1.6", "4.10.1"])
def test_repair_for_the_resuming_release_then_resume_is_the_uninterrupted_run(tmp_path, case, glue):
    ckpt = copy_stock(tmp_path, case)
    code, out = cli("repair", ckpt, "--trainer", f"simpletuner=={glue}", "--optimizer-lr")
    assert code == 0, out
    assert wrong_steps(resumed(ckpt, case, glue), case) == []
    state = json.loads((ckpt / "training_state.json").read_text())
    original = json.loads((RUNS / case / "stock/checkpoint-20/training_state.json").read_text())
    if glue == "3.1.6":
        assert state["epoch_step"] == 20  # what its resume takes last_epoch from
    else:
        assert state == original  # 4.10 resumes from global_step: epoch_step left alone
    assert cli("inspect", ckpt, "--trainer", f"simpletuner=={glue}")[0] == 0


@pytest.mark.parametrize("case", ["b-n1-7-batches-per-epoch", "d-ga2-resumed"])
def test_release_unknown_repair_holds_for_every_release(tmp_path, case):
    """No --trainer and no installed release: the repair must hold for 3.1.6 and 4.10.1 alike."""
    ckpt = copy_stock(tmp_path, case)
    before = (ckpt / "training_state.json").read_bytes()
    out = repair_path(ckpt, Options(optimizer_lr=True), facts=RunFacts(installed=()))
    assert out.exit_code == 0, [i.plan.refusals for i in out.items]
    plan = out.items[0].plan
    assert any("epoch_step" in n and ">= 4.10.0" in n for n in plan.notes)  # says what 4.10 does instead
    after = (ckpt / "training_state.json").read_bytes()
    # only the value changed: every other byte (key order, spacing) as SimpleTuner wrote it
    assert after == before.replace(b'"epoch_step": %d' % json.loads(before)["epoch_step"], b'"epoch_step": 20')
    for glue in ("3.1.6", "4.10.1"):
        assert wrong_steps(resumed(ckpt, case, glue), case) == [], glue


@pytest.mark.parametrize("flag", [["--num-processes", "2"], []])
def test_two_processes_with_and_without_num_processes(tmp_path, flag):
    """Case c: a real 2-process torchrun left random_states_0.pkl only. Without --num-processes N comes from
    last_epoch 40 / step 20 (the state is consistent with its formula) -- never from the one RNG file."""
    case = "c-n2-torchrun"
    ckpt = copy_stock(tmp_path, case)
    code, out = cli("repair", ckpt, *flag, "--optimizer-lr", "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["checkpoints"][0]["num_processes"]["value"] == 2
    changes = {c["key"]: c["new"] for c in doc["checkpoints"][0]["changes"]}
    assert "last_epoch" not in changes and changes["T_cur"] == 0  # last_epoch stays 40 = 2 x 20, not 20
    assert wrong_steps(resumed(ckpt, case, "3.1.6"), case) == []  # emulated N = 2 (equals torchrun: fixtures test)


def test_a_state_right_for_two_processes_is_never_made_right_for_one(tmp_path):
    case = "c-n2-torchrun"
    ckpt = copy_stock(tmp_path, case, variant="fixed")
    before = tree_hashes(ckpt)
    code, out = cli("repair", ckpt)
    assert code == 0 and tree_hashes(ckpt) == before, out  # consistent for N = 2: nothing written
    # The same folder with the evidence gone: last_epoch 60 at step 20 is no whole N for T_0 20.
    shutil.copyfile(RUNS / case / "fixed/checkpoint-30/scheduler.bin", ckpt / "scheduler.bin")
    before = tree_hashes(ckpt)
    code, out = cli("repair", ckpt)
    assert code == 1 and tree_hashes(ckpt) == before
    assert "--num-processes" in " ".join(out.split()) and "refused" in out
    assert cli("repair", ckpt, "--num-processes", "2", "--optimizer-lr")[0] == 0
    assert wrong_steps(resumed(ckpt, case, "3.1.6"), case) == []


def test_inspect_before_repair_shows_the_epoch_step_offset(tmp_path):
    """The fixed-formula checkpoint at step 20 with epoch_step 22: scheduler.bin is self-consistent, yet
    3.1.6 resumes two steps ahead from step 22 -- the preview says so, and matches SimpleTuner's real resume."""
    case = "b-n1-7-batches-per-epoch"
    ckpt = RUNS / case / "fixed/checkpoint-20"
    code, out = cli("inspect", ckpt, "--trainer", "simpletuner==3.1.6", "--json")
    assert code == 1
    (ck,) = json.loads(out)["checkpoints"]
    (f,) = [f for f in ck["findings"] if f["code"] == "CKF111"]
    assert f["key"] == "epoch_step" and "2 step(s) ahead" in f["message"]
    (p,) = ck["resume_preview"]
    assert p["resumed_last_epoch"] == 22 and p["scheduler_wrong_step"] == 22
    real = resumed(ckpt, case, "3.1.6")
    for row in p["steps"]:
        assert abs(real[row["step"]] - row["lr"]) <= Q, row  # the preview is what SimpleTuner does
    assert cli("inspect", ckpt, "--trainer", "simpletuner>=4.10")[0] == 0


def recipe_block() -> str:
    from tests.helpers import ROOT

    text = (ROOT / "docs" / "trainers.md").read_text()
    return text.split("<!-- recipe: tests/repair/test_trainer_resume.py runs this block -->", 1)[1].split("```", 2)[1]


def test_recipe_runs_the_fixed_formula_in_simpletuner(tmp_path):
    """docs/trainers.md's recipe, run as a shell script against a copy of SimpleTuner 3.1.6's
    custom_schedule.py, appends one import; executed as that module, SimpleTuner's factory builds
    ckptfix.schedulers.Sine, and a repaired checkpoint resumes on the uninterrupted fixed-formula run."""
    import subprocess

    import st_sim

    from ckptfix.schedulers import Sine

    module = st_sim.simpletuner().custom_schedule
    # a stand-in package first on PYTHONPATH: the recipe finds and patches it, never the installed one
    stand_in = tmp_path / "site" / "simpletuner"
    (stand_in / "helpers" / "training").mkdir(parents=True)
    (stand_in / "__init__.py").write_text("")
    target = stand_in / "helpers" / "training" / "custom_schedule.py"
    shutil.copyfile(module.__file__, target)
    script = recipe_block().split("\n", 1)[1]  # drop the language tag line
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site"), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for _ in range(2):  # idempotent: a second run adds nothing
        subprocess.run(["sh", "-c", script], check=True, env=env, capture_output=True)
    patched = target.read_text()
    assert patched.count("from ckptfix.schedulers import Sine") == 1
    assert patched.startswith(Path(module.__file__).read_text().rstrip("\n"))
    saved = dict(module.__dict__)
    try:
        exec(compile(patched, module.__file__, "exec"), module.__dict__)  # noqa: S102 - SimpleTuner's own module
        assert module.Sine is Sine
        case = "b-n1-7-batches-per-epoch"
        ckpt = copy_stock(tmp_path, case)
        assert cli("repair", ckpt, "--trainer", "simpletuner==3.1.6", "--optimizer-lr")[0] == 0
        # formula="simpletuner": the harness swaps nothing; the patched module's Sine is what the factory builds
        lrs = harness.resume_lrs(ckpt, harness.load_case(case)["params"], glue="3.1.6", formula="simpletuner")
        assert wrong_steps(lrs, case) == []
    finally:
        module.__dict__.clear()
        module.__dict__.update(saved)
    assert st_sim.simpletuner().custom_schedule.Sine is not Sine
