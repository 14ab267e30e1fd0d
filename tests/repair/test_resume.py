"""The resume test of issue 4: a repaired checkpoint continues exactly like an uninterrupted run.

Scenario: accelerate on CPU and the reference ``ckptfix.schedulers.Sine``. Train M optimizer steps
uninterrupted and record the LRs; separately train k steps, ``save_state``, damage ``scheduler.bin``
(a SimpleTuner v1 state, a v2 state, a stale ``T_cur``, the file deleted), run ``ckptfix repair``,
``load_state`` into fresh objects and continue to M. Steps k+1..M must have exactly the same LRs.

N = 2 is simulated the way accelerate itself would do it: ``AcceleratedScheduler.step`` asks
``AcceleratorState().num_processes`` how many times to step the wrapped scheduler; the test makes that
answer 2 (monkeypatch), so the real N-fold loop of accelerate runs. The checkpoint then has one
``random_states_0.pkl``, so repair gets ``--num-processes 2`` (what a user of a 2-GPU run passes when
inspecting a copy made on one machine).

"Fresh process": most cases build a fresh ``Accelerator``, model, optimizer and ``Sine`` in this
process and call ``load_state`` on them. That is equivalent for this purpose because ``load_state``
replaces the scheduler's state wholesale (``Sine.load_state_dict`` is ``__dict__.update``) and the
optimizer's param groups: nothing of the first run's objects is reused; the only process-wide state,
``AcceleratorState``, holds the device and process count, which are the same. One case
(``test_resume_in_a_subprocess``) really resumes in a new interpreter, to show it changes nothing;
importing torch there costs ~4 s, so only one case does it.

Recorded per step s: ``used`` = the LR the optimizer steps with (param_groups lr before
``optimizer.step()``), and ``after`` = ``scheduler.get_last_lr()`` after the scheduler steps (which
is the LR of step s+1). The damage touches only ``scheduler.bin``; ``optimizer.bin`` keeps the right
LR, so ``used`` matches from k+1 on. (A v1-trained run would also have a v1 LR in ``optimizer.bin``;
repair leaves that alone, the CKF040 warning names it, and the scheduler overwrites it after step k+1.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
accelerate = pytest.importorskip("accelerate")

from typer.testing import CliRunner  # noqa: E402

from ckptfix._cli import app  # noqa: E402, PLC2701 - the tests drive the CLI's Typer app
from ckptfix.schedulers import Sine  # noqa: E402
from tests.helpers import ROOT  # noqa: E402

sys.path.insert(0, str(ROOT / "fixtures"))
from legacy_schedulers import (  # noqa: E402
    SimpleTunerSineV1,
    SimpleTunerSineV2,
    SimpleTunerSineV2NoStepCount,
)

BASE_LR = 1e-4
ETA_MIN = 1e-6


class _TwoProcesses:
    num_processes = 2


def _set_processes(monkeypatch, n: int) -> None:
    import accelerate.scheduler as acc_sched

    if n == 1:
        return
    monkeypatch.setattr(acc_sched, "AcceleratorState", lambda: type("S", (), {"num_processes": n})())


def _objects(t0: int, t_mult: int):
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    set_seed(0)
    acc = Accelerator(cpu=True)
    model = torch.nn.Linear(4, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=BASE_LR)
    sched = Sine(opt, T_0=t0, T_mult=t_mult, eta_min=ETA_MIN)
    model, opt, sched = acc.prepare(model, opt, sched)
    return acc, model, opt, sched


def _train(acc, model, opt, sched, first: int, last: int) -> dict[int, tuple[float, float]]:
    out = {}
    for s in range(first, last + 1):
        g = torch.Generator().manual_seed(s)
        x, y = torch.randn(8, 4, generator=g), torch.randn(8, 2, generator=g)
        loss = torch.nn.functional.mse_loss(model(x), y)
        acc.backward(loss)
        used = opt.param_groups[0]["lr"]
        opt.step()
        opt.zero_grad()
        sched.step()
        out[s] = (used, sched.get_last_lr()[0])
    return out


def _damage(ckpt: Path, kind: str, t0: int, t_mult: int, n: int, k: int) -> None:
    path = ckpt / "scheduler.bin"
    e = n * k
    if kind == "deleted":
        path.unlink()
        return
    p = torch.nn.Parameter(torch.zeros(1))
    dummy = torch.optim.AdamW([p], lr=BASE_LR)
    if kind == "v1":
        s = SimpleTunerSineV1(dummy, T_0=t0, T_mult=t_mult, eta_min=ETA_MIN)
        for _ in range(e):
            s.step()
        state = s.state_dict()
    elif kind == "v2":
        s = SimpleTunerSineV2(dummy, T_0=t0, T_mult=t_mult, eta_min=ETA_MIN)
        for _ in range(e):  # its constructor stepped to last_epoch 0
            s.step()
        state = s.state_dict()
    elif kind == "v2-no-step-count":  # scheduler never moved: last_epoch -1, no _step_count (#1137)
        state = SimpleTunerSineV2NoStepCount(dummy, T_0=t0, T_mult=t_mult, eta_min=ETA_MIN).state_dict()
        assert "_step_count" not in state
        torch.save(dict(state, last_epoch=-1), path)
        return
    elif kind == "not-multiplied":  # stepped once per optimizer step: last_epoch k, not N*k
        s = Sine(dummy, T_0=t0, T_mult=t_mult, eta_min=ETA_MIN)
        for _ in range(k):
            s.step()
        torch.save(s.state_dict(), path)
        return
    elif kind == "stale-tcur":
        s = Sine(dummy, T_0=t0, T_mult=t_mult, eta_min=ETA_MIN)
        for _ in range(e - 3):
            s.step()
        state = s.state_dict()
        state["last_epoch"] = e  # SimpleTuner's resume assignment, outside step()
    else:
        raise AssertionError(kind)
    assert state["last_epoch"] == e
    torch.save(state, path)


def _save_checkpoint(acc, ckpt: Path, k: int) -> None:
    acc.save_state(str(ckpt))
    (ckpt / "training_state.json").write_text(json.dumps({"global_step": k, "epoch_step": k, "epoch": 1}))


def _repair_args(kind: str, ckpt: Path, n: int, w: int, t_mult: int) -> list[str]:
    args = ["repair", str(ckpt), "--num-processes", str(n)]
    if kind == "deleted":
        args += ["--lr-warmup-steps", str(w), "--lr-end", str(ETA_MIN), "--t-mult", str(t_mult)]
    return args


CASES = [
    # (damage, N, W, T_mult, k, M): T_0 = W*N. Restarts (in last_epoch) at T_0 (T_mult 1) or
    # T_0, 3 T_0, 7 T_0 (T_mult 2); each case crosses at least one restart after k.
    ("v1", 1, 10, 1, 13, 40),
    ("v2", 1, 10, 1, 13, 40),
    ("stale-tcur", 1, 10, 1, 13, 40),
    ("deleted", 1, 10, 1, 13, 40),
    ("v1", 2, 5, 1, 13, 30),
    ("v2", 2, 5, 1, 7, 30),
    ("stale-tcur", 2, 5, 1, 13, 30),
    ("deleted", 2, 5, 1, 13, 30),
    ("v1", 1, 4, 2, 10, 40),  # T_0 4: cycles [0,4) [4,12) [12,28) [28,60): k=10 mid-cycle 2
    ("v2", 1, 4, 2, 10, 40),
    ("stale-tcur", 1, 4, 2, 10, 40),
    ("deleted", 1, 4, 2, 10, 40),
    ("v2", 2, 2, 2, 5, 20),  # T_0 4, N 2: last_epoch 10 at k, restarts at e 12 and 28
    # Damage the reference Sine does not survive on its own (see the control tests below):
    ("v2-no-step-count", 1, 10, 1, 13, 40),
    ("v2-no-step-count", 2, 5, 1, 13, 30),
    ("not-multiplied", 2, 5, 1, 13, 30),
    ("not-multiplied", 2, 2, 2, 5, 20),
]


@pytest.mark.parametrize("kind,n,w,t_mult,k,m", CASES, ids=[f"{c[0]}-N{c[1]}-Tmult{c[3]}" for c in CASES])
def test_repaired_checkpoint_resumes_exactly(tmp_path, monkeypatch, kind, n, w, t_mult, k, m):
    _set_processes(monkeypatch, n)
    t0 = w * n
    reference = _train(*_objects(t0, t_mult), 1, m)

    acc, model, opt, sched = _objects(t0, t_mult)
    first = _train(acc, model, opt, sched, 1, k)
    assert first == {s: reference[s] for s in range(1, k + 1)}
    ckpt = tmp_path / f"checkpoint-{k}"
    _save_checkpoint(acc, ckpt, k)
    _damage(ckpt, kind, t0, t_mult, n, k)

    inspect = CliRunner().invoke(app, ["inspect", str(ckpt), "--num-processes", str(n)])
    assert inspect.exit_code == 1, inspect.output
    res = CliRunner().invoke(app, _repair_args(kind, ckpt, n, w, t_mult))
    assert res.exit_code == 0, res.output
    again = CliRunner().invoke(app, ["repair", str(ckpt), "--num-processes", str(n)])
    assert again.exit_code == 0 and "nothing to do" in again.output

    acc2, model2, opt2, sched2 = _objects(t0, t_mult)
    acc2.load_state(str(ckpt))
    assert sched2.scheduler.last_epoch == n * k
    assert not hasattr(sched2.scheduler, "total_steps")
    resumed = _train(acc2, model2, opt2, sched2, k + 1, m)
    assert resumed == {s: reference[s] for s in range(k + 1, m + 1)}


@pytest.mark.parametrize("kind,n", [("v2-no-step-count", 1), ("not-multiplied", 2)])
def test_unrepaired_damage_does_not_resume_exactly(tmp_path, monkeypatch, kind, n):
    """Control: without the repair these states continue on other LRs, so the test above can fail.

    (The reference ``Sine`` derives T_cur/T_i from last_epoch and ignores total_steps, so a v1, v2 or
    stale-T_cur state with the right last_epoch would resume correctly into it even unrepaired; they
    still fail ``inspect`` and would misbehave with SimpleTuner's own classes.)"""
    _set_processes(monkeypatch, n)
    w, k, m = 5, 13, 30
    t0 = w * n
    reference = _train(*_objects(t0, 1), 1, m)
    acc, model, opt, sched = _objects(t0, 1)
    _train(acc, model, opt, sched, 1, k)
    ckpt = tmp_path / f"checkpoint-{k}"
    _save_checkpoint(acc, ckpt, k)
    _damage(ckpt, kind, t0, 1, n, k)
    acc2, model2, opt2, sched2 = _objects(t0, 1)
    acc2.load_state(str(ckpt))
    resumed = _train(acc2, model2, opt2, sched2, k + 1, m)
    assert resumed != {s: reference[s] for s in range(k + 1, m + 1)}


def test_missing_scheduler_stops_the_resume_until_repaired(tmp_path):
    t0, k = 10, 13
    acc, model, opt, sched = _objects(t0, 1)
    _train(acc, model, opt, sched, 1, k)
    ckpt = tmp_path / f"checkpoint-{k}"
    _save_checkpoint(acc, ckpt, k)
    _damage(ckpt, "deleted", t0, 1, 1, k)
    with pytest.raises(Exception):
        _objects(t0, 1)[0].load_state(str(ckpt))
    res = CliRunner().invoke(app, ["repair", str(ckpt)])
    assert res.exit_code == 1 and "--lr-warmup-steps" in res.output
    assert not (ckpt / "scheduler.bin").exists()


_CHILD = r"""
import json, sys, torch
from accelerate import Accelerator
from ckptfix.schedulers import Sine
acc = Accelerator(cpu=True)
model = torch.nn.Linear(4, 2)
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
sched = Sine(opt, T_0=int(sys.argv[2]), T_mult=int(sys.argv[3]), eta_min=1e-6)
model, opt, sched = acc.prepare(model, opt, sched)
acc.load_state(sys.argv[1])
out = {}
for s in range(int(sys.argv[4]) + 1, int(sys.argv[5]) + 1):
    g = torch.Generator().manual_seed(s)
    x, y = torch.randn(8, 4, generator=g), torch.randn(8, 2, generator=g)
    acc.backward(torch.nn.functional.mse_loss(model(x), y))
    used = opt.param_groups[0]["lr"]
    opt.step(); opt.zero_grad(); sched.step()
    out[s] = [used, sched.get_last_lr()[0]]
print(json.dumps(out))
"""


def test_resume_in_a_subprocess(tmp_path):
    """The same check with ``load_state`` in a new interpreter (v1 damage, T_mult 2 across a restart)."""
    t0, t_mult, k, m = 4, 2, 10, 30
    reference = _train(*_objects(t0, t_mult), 1, m)
    acc, model, opt, sched = _objects(t0, t_mult)
    _train(acc, model, opt, sched, 1, k)
    ckpt = tmp_path / f"checkpoint-{k}"
    _save_checkpoint(acc, ckpt, k)
    _damage(ckpt, "v1", t0, t_mult, 1, k)
    res = CliRunner().invoke(app, ["repair", str(ckpt)])
    assert res.exit_code == 0, res.output
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(ckpt), str(t0), str(t_mult), str(k), str(m)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    resumed = {int(s): tuple(v) for s, v in json.loads(proc.stdout.strip().splitlines()[-1]).items()}
    assert resumed == {s: reference[s] for s in range(k + 1, m + 1)}
    shutil.rmtree(ckpt)
