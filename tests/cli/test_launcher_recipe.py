"""The launcher recipe of docs/exit-codes.md, run as a real shell script on real fixtures.

The launch line is replaced by an ``echo``; everything else runs as printed in the docs, with the
installed ``ckptfix`` on PATH.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ckptfix
from tests.helpers import FIXTURES, ROOT

pytestmark = pytest.mark.smoke  # runs from the wheel on every Python, without torch (.ci/run)

DOC = (ROOT / "docs" / "exit-codes.md").read_text()
LAUNCH = "accelerate launch train.py --resume_from_checkpoint latest"


def recipe() -> str:
    m = re.search(r"<!-- launcher-recipe:.*?-->\n```sh\n(.*?)```", DOC, re.S)
    assert m, "docs/exit-codes.md lost its launcher recipe block"
    script = m.group(1)
    assert script.count(LAUNCH) == 1
    return script.replace(LAUNCH, 'echo "LAUNCHED $OUT"')


def gate(tmp_path: Path, out: Path) -> subprocess.CompletedProcess:
    script = tmp_path / "resume.sh"
    script.write_text(recipe())
    script.chmod(0o755)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               COLUMNS="80")
    return subprocess.run(["sh", str(script), str(out)], capture_output=True, text=True, env=env, timeout=120)


def test_first_launch_launches(tmp_path: Path) -> None:
    out = tmp_path / "output" / "run1"  # the trainer creates it at its first save
    p = gate(tmp_path, out)
    assert p.returncode == 0 and f"LAUNCHED {out}" in p.stdout, p.stderr
    assert "nothing to resume" in p.stderr and "Traceback" not in p.stderr


def test_first_launch_with_only_a_tmp_checkpoint_launches(tmp_path: Path) -> None:
    out = tmp_path / "run1"
    shutil.copytree(FIXTURES / "output-run" / "checkpoint-40-tmp", out / "checkpoint-10-tmp")
    p = gate(tmp_path, out)
    assert p.returncode == 0 and "LAUNCHED" in p.stdout, p.stderr


def test_good_run_launches_without_writing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(FIXTURES / "output-run", out)
    p = gate(tmp_path, out)
    assert p.returncode == 0 and "LAUNCHED" in p.stdout, p.stderr
    assert not list(out.rglob(".ckptfix")), "a consistent run must not be written to"


def test_repairable_run_is_repaired_then_launched(tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(FIXTURES / "sine-v1", out)
    p = gate(tmp_path, out)
    assert p.returncode == 0 and "LAUNCHED" in p.stdout, p.stdout + p.stderr
    assert list((out / "checkpoint-30" / ".ckptfix").glob("backup-*/scheduler.bin"))
    again = gate(tmp_path, out)  # the second launch finds it consistent
    assert again.returncode == 0 and "LAUNCHED" in again.stdout


def test_the_repair_has_the_flags_the_gate_advises(tmp_path: Path) -> None:
    """A v1 checkpoint: the gate's advice includes --optimizer-lr (CKF115: the stored lr is v1's); without it
    the first resumed step would run at the optimizer's stale lr (issue 22)."""
    out = tmp_path / "my run"  # a space: the advice quotes the path and the recipe runs it as words
    shutil.copytree(FIXTURES / "sine-v1", out)
    advice = ckptfix.check(out).next
    assert advice.ready and advice.argv[-1] == "--optimizer-lr"
    p = gate(tmp_path, out)
    assert p.returncode == 0 and "LAUNCHED" in p.stdout, p.stdout + p.stderr
    after = ckptfix.check(out)
    assert after.ok and not after.findings, [f.code for f in after.findings]
    ck = after.checkpoints[0]
    assert list(ck.optimizers[0].lr) == ck.schedulers[0].values["_last_lr"] == [0.0001]


def test_a_path_is_never_run_as_code(tmp_path: Path) -> None:
    out = tmp_path / "run $(touch PWNED) `touch PWNED`; touch PWNED"
    shutil.copytree(FIXTURES / "sine-v1", out)
    p = gate(tmp_path, out)
    assert p.returncode == 0 and "LAUNCHED" in p.stdout, p.stdout + p.stderr
    assert not list(tmp_path.rglob("PWNED")) and not (Path.cwd() / "PWNED").exists()
    assert ckptfix.check(out).ok


def test_findings_repair_cannot_fix_stop(tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(FIXTURES / "trainers" / "hf-trainer-edited", out)  # the gate advises ckptfix explain CKF100
    p = gate(tmp_path, out)
    assert p.returncode == 1 and "LAUNCHED" not in p.stdout
    assert "not launching" in p.stderr and not list(out.rglob(".ckptfix"))


def test_unrepairable_findings_stop(tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(FIXTURES / "missing-scheduler", out)  # repair needs --lr-warmup-steps: refuses, exit 1
    p = gate(tmp_path, out)
    assert p.returncode == 1 and "LAUNCHED" not in p.stdout
    assert "not launching" in p.stderr


@pytest.mark.parametrize("fixture, code", [("hostile", 3), ("truncated", 3)])
def test_hostile_or_broken_run_stops(tmp_path: Path, fixture: str, code: int) -> None:
    out = tmp_path / "run"
    shutil.copytree(FIXTURES / fixture, out)
    p = gate(tmp_path, out)
    assert p.returncode == code and "LAUNCHED" not in p.stdout
    assert "not launching" in p.stderr and "Traceback" not in p.stderr


def test_the_advice_fixes_everything_in_one_round(tmp_path: Path) -> None:
    """Issue 21, simpletuner/st3-advice-two-rounds (a stock SimpleTuner 3.1.6 v2 checkpoint with a drifted
    epoch_step, resumed by 3.1.6 running the fixed sine): the gate's advice carries --optimizer-lr beside the
    epoch_step and scheduler fixes (CKF115 is given with CKF111, and is an error), so one repair leaves nothing:
    the recipe launches after one round. Before, round 1 left the first step at v2's lr and round 2 exited 0."""
    out = tmp_path / "run"
    shutil.copytree(FIXTURES / "resumes" / "simpletuner" / "st3-advice-two-rounds" / "output", out)
    opts = {"trainer": "simpletuner==3.1.6", "num_processes": 1, "learning_rate": 1e-4, "lr_end": 1e-6,
            "lr_warmup_steps": 10}
    first = ckptfix.check(out, latest=True, **opts)
    errors = {f.code for f in first.findings if f.severity == "error"}
    assert {"CKF111", "CKF115"} <= errors and first.exit_code == 1
    assert first.next.ready and "--optimizer-lr" in first.next.argv
    fixed = subprocess.run(list(first.next.argv), capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"})
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    after = ckptfix.check(out, latest=True, **opts)
    assert after.ok and after.next is None, [f.code for f in after.findings]
