"""fixtures/simpletuner_runs: the committed SimpleTuner 3.1.6 runs hold what their README says, and
the resume harness reproduces the uninterrupted fixed-formula run when the resume rule allows it.

The harness tests drive SimpleTuner's own code (the 3.1.6 wheel, installed with --no-deps; see
fixtures/simpletuner_runs/README.md) and are skipped when it is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers import FIXTURES

RUNS = FIXTURES / "simpletuner_runs"
sys.path.insert(0, str(RUNS))

import harness  # noqa: E402

CASES = ["a-n1-no-boundary", "b-n1-7-batches-per-epoch", "c-n2-torchrun", "d-ga2-resumed"]
VARIANTS = ["stock", "fixed"]
Q = 1e-9  # SimpleTuner stores floor(lr * 1e9) / 1e9


def case(name: str) -> dict:
    return json.loads((RUNS / name / "run.json").read_text())


def ckpt(name: str, variant: str, folder: str) -> Path:
    return RUNS / name / variant / folder


def training_state(name: str, variant: str, folder: str) -> dict:
    return json.loads((ckpt(name, variant, folder) / "training_state.json").read_text())


def sched(name: str, variant: str, folder: str) -> dict:
    return torch.load(ckpt(name, variant, folder) / "scheduler.bin", weights_only=True)


def trunc(lr: float) -> float:
    return math.floor(lr * 1e9) / 1e9


def v2_lr(e: int, t0: int, base: float, eta: float) -> float:
    return trunc(eta + (base - eta) * 0.5 * (1 + math.sin(math.pi * e / t0)))


def sine_lr(e: int, t0: int, base: float, eta: float) -> float:
    return trunc(eta + (base - eta) * (0.5 + 0.5 * math.cos(2 * math.pi * (e % t0) / t0)))


def close(a: float, b: float) -> bool:
    return abs(a - b) <= 1.5 * Q


# --- the committed files --------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_run_json_describes_the_folders(name, variant):
    """run.json's per-checkpoint summary is what the files hold."""
    doc = case(name)
    summary = doc["variants"][variant]["checkpoints"]
    on_disk = sorted(p.name for p in (RUNS / name / variant).iterdir())
    assert sorted(summary) == on_disk
    for folder, s in summary.items():
        ts, sc = training_state(name, variant, folder), sched(name, variant, folder)
        assert (ts["global_step"], ts["epoch_step"], ts["epoch"]) == (s["global_step"], s["epoch_step"], s["epoch"])
        assert sc["last_epoch"] == s["last_epoch"] and sc["_last_lr"][0] == s["lr"]
        assert sorted(p.name for p in ckpt(name, variant, folder).iterdir()) == s["files"]
        assert int(folder.split("-")[1]) == ts["global_step"]


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_checkpoint_is_consistent_with_its_formula_at_n_times_g(name, variant):
    p = case(name)["params"]
    n, w = p["num_processes"], p["lr_warmup_steps"]
    for folder in case(name)["variants"][variant]["checkpoints"]:
        g = training_state(name, variant, folder)["global_step"]
        sc = sched(name, variant, folder)
        assert sc["T_0"] == w * n and sc["last_epoch"] == n * g
        assert sc["base_lrs"] == [p["learning_rate"]] and sc["eta_min"] == p["lr_end"]
        if variant == "stock":  # SimpleTuner v2 as the 3.1.6 wheel writes it
            assert sc["total_steps"] == n * g and sc["T_cur"] == -1 and sc["T_i"] == w * n and sc["_step_count"] == 0
            assert close(sc["_last_lr"][0], v2_lr(n * g, w * n, p["learning_rate"], p["lr_end"]))
        else:  # ckptfix.schedulers.Sine
            assert "total_steps" not in sc and sc["T_cur"] == (n * g) % (w * n) and sc["_step_count"] == n * g + 1
            assert close(sc["_last_lr"][0], sine_lr(n * g, w * n, p["learning_rate"], p["lr_end"]))


@pytest.mark.parametrize("variant", VARIANTS)
def test_case_a_epoch_step_is_global_step(variant):
    folders = case("a-n1-no-boundary")["variants"][variant]["checkpoints"]
    assert list(folders) == ["checkpoint-10", "checkpoint-20", "checkpoint-25-rolling", "checkpoint-30"]
    for folder in folders:
        ts = training_state("a-n1-no-boundary", variant, folder)
        assert ts["epoch_step"] == ts["global_step"] and ts["epoch"] == 1


@pytest.mark.parametrize("variant", VARIANTS)
def test_case_b_epoch_step_gains_one_per_epoch_boundary(variant):
    got = {f: (t["global_step"], t["epoch_step"], t["epoch"]) for f in ("checkpoint-10", "checkpoint-20", "checkpoint-30")
           for t in [training_state("b-n1-7-batches-per-epoch", variant, f)]}
    assert got == {"checkpoint-10": (10, 11, 2), "checkpoint-20": (20, 22, 3), "checkpoint-30": (30, 34, 5)}
    assert case("b-n1-7-batches-per-epoch")["params"]["batches_per_epoch"] == 7


@pytest.mark.parametrize("variant", VARIANTS)
def test_case_c_two_processes_leave_one_random_state(variant):
    assert case("c-n2-torchrun")["written_by"]["launcher"] == "torchrun (gloo)"
    for folder in ("checkpoint-10", "checkpoint-20", "checkpoint-30"):
        d = ckpt("c-n2-torchrun", variant, folder)
        assert sorted(p.name for p in d.glob("random_states_*")) == ["random_states_0.pkl"]
        assert not list(d.glob("training_state-rank*"))  # rank 1 never called save_state
        g = training_state("c-n2-torchrun", variant, folder)["global_step"]
        assert sched("c-n2-torchrun", variant, folder)["last_epoch"] == 2 * g


@pytest.mark.parametrize("variant", VARIANTS)
def test_case_d_epoch_step_drifts_after_the_ga_resume(variant):
    doc = case("d-ga2-resumed")
    assert doc["params"]["gradient_accumulation_steps"] == 2 and doc["interrupted_at"] == 10
    assert doc["variants"][variant]["resumed_last_epoch"] == 10
    got = {f: (t["global_step"], t["epoch_step"]) for f in ("checkpoint-10", "checkpoint-20", "checkpoint-30")
           for t in [training_state("d-ga2-resumed", variant, f)]}
    assert got == {"checkpoint-10": (10, 10), "checkpoint-20": (20, 15), "checkpoint-30": (30, 25)}


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_trajectories_follow_the_formula(name, variant):
    """Step k (1-based) uses the LR of last_epoch N*(k-1); the run's own trajectory (with its
    interruption, case d) equals the uninterrupted one."""
    doc = case(name)
    p, v = doc["params"], doc["variants"][variant]
    n, t0 = p["num_processes"], p["lr_warmup_steps"] * p["num_processes"]
    formula = v2_lr if variant == "stock" else sine_lr
    lrs = {int(k): x for k, x in v["uninterrupted_lrs"].items()}
    assert sorted(lrs) == list(range(1, p["max_train_steps"] + 1))
    for k, lr in lrs.items():
        assert close(lr, formula(n * (k - 1), t0, p["learning_rate"], p["lr_end"])), (k, lr)
    assert v["run_lrs"] == v["uninterrupted_lrs"]


# --- the harness (SimpleTuner's own code) ----------------------------------------------------------

# The README's test command installs simpletuner 3.1.6; under CI (CI set) a missing one fails, never skips.
needs_simpletuner = pytest.mark.skipif(
    importlib.util.find_spec("simpletuner") is None and not os.environ.get("CI"),
    reason="simpletuner 3.1.6 not installed (fixtures/simpletuner_runs/README.md)",
)


def mismatches(got: dict[int, float], expected: dict[int, float]) -> list[int]:
    assert got and set(got) <= set(expected)
    return [k for k in sorted(got) if not close(got[k], expected[k])]


@needs_simpletuner
def test_simpletuner_latest_picks_the_highest_step():
    import st_sim

    assert st_sim.latest_checkpoint(RUNS / "a-n1-no-boundary" / "stock") == "checkpoint-30"


def _consistent_resumes() -> list[tuple[str, str, str]]:
    """(case, folder, glue) where the resume rule lands on N*g: 4.10.1 always, 3.1.6 only where
    epoch_step == global_step."""
    out = []
    for name in CASES:
        for folder in ("checkpoint-10", "checkpoint-20"):
            ts = training_state(name, "fixed", folder)
            for glue in ("3.1.6", "4.10.1"):
                if glue == "4.10.1" or ts["epoch_step"] == ts["global_step"]:
                    out.append((name, folder, glue))
    return out


@needs_simpletuner
@pytest.mark.parametrize("name, folder, glue", _consistent_resumes())
def test_harness_reproduces_the_uninterrupted_fixed_run(name, folder, glue):
    """A fixed-formula checkpoint consistent with the uninterrupted run, resumed with ckptfix's Sine
    swapped into SimpleTuner's factory: every LR after the resume equals the uninterrupted run."""
    p = case(name)["params"]
    ts = training_state(name, "fixed", folder)
    r = harness.resume(ckpt(name, "fixed", folder), p, glue=glue, formula="sine")
    assert r.global_step == ts["global_step"] and r.last_epoch == p["num_processes"] * ts["global_step"]
    assert sorted(r.lrs) == list(range(ts["global_step"] + 1, p["max_train_steps"] + 1))
    assert mismatches(r.lrs, harness.expected_lrs(name, "fixed")) == [], r


@needs_simpletuner
@pytest.mark.parametrize(
    "name, ahead",
    [("b-n1-7-batches-per-epoch", 2), ("d-ga2-resumed", -5)],
)
def test_harness_shows_the_3_1_6_epoch_step_offset(name, ahead):
    """A correct fixed-formula state at step 20 whose epoch_step is not 20: 3.1.6 resumes
    (epoch_step - 20) steps off the schedule from the second step on; 4.10.1 does not."""
    p = case(name)["params"]
    expected = harness.expected_lrs(name, "fixed")
    r = harness.resume(ckpt(name, "fixed", "checkpoint-20"), p, glue="3.1.6", formula="sine")
    assert r.epoch_step == 20 + ahead and r.last_epoch == 20 + ahead
    assert close(r.lrs[21], expected[21])  # the first step uses the LR loaded from optimizer.bin
    bad = mismatches(r.lrs, expected)
    assert bad and bad[0] == 22
    t0, base, eta = p["lr_warmup_steps"], p["learning_rate"], p["lr_end"]
    for k in range(22, p["max_train_steps"] + 1):
        assert close(r.lrs[k], sine_lr(k - 1 + ahead, t0, base, eta)), k
    ok = harness.resume(ckpt(name, "fixed", "checkpoint-20"), p, glue="4.10.1", formula="sine")
    assert mismatches(ok.lrs, expected) == []


@needs_simpletuner
@pytest.mark.parametrize("name", CASES)
def test_harness_stock_resume_continues_v2(name):
    """Stock SimpleTuner resuming its own checkpoint-10 continues the v2 run it wrote (epoch_step
    equals global_step at checkpoint-10 in every case but b, where 4.10.1's rule is used)."""
    p = case(name)["params"]
    glue = "4.10.1" if name.startswith("b-") else "3.1.6"
    r = harness.resume(ckpt(name, "stock", "checkpoint-10"), p, glue=glue, formula="simpletuner")
    assert mismatches(r.lrs, harness.expected_lrs(name, "stock")) == []


@needs_simpletuner
def test_harness_emulated_n2_equals_torchrun():
    p = case("c-n2-torchrun")["params"]
    folder = ckpt("c-n2-torchrun", "fixed", "checkpoint-20")
    emulated = harness.resume(folder, p, glue="3.1.6", formula="sine", steps=4)
    real = harness.resume(folder, p, glue="3.1.6", formula="sine", steps=4, launcher="torchrun")
    assert (emulated.launcher, real.launcher) == ("emulate", "torchrun")
    assert real.lrs == emulated.lrs and sorted(real.lrs) == [21, 22, 23, 24]
    assert real.last_epoch == emulated.last_epoch == 40


@needs_simpletuner
def test_harness_world_size_change_rescales_the_phase():
    """The N=2 checkpoint resumed by one process: last_epoch = epoch_step * 1 = 20 while T_0 stays 20
    (loaded from scheduler.bin): the schedule jumps half a period."""
    p = case("c-n2-torchrun")["params"]
    r = harness.resume(ckpt("c-n2-torchrun", "fixed", "checkpoint-20"), p, glue="3.1.6", formula="sine",
                       num_processes=1, steps=3)
    assert r.num_processes == 1 and r.loaded_last_epoch == 40 and r.last_epoch == 20
    assert close(r.lrs[22], sine_lr(21, 20, p["learning_rate"], p["lr_end"]))


@needs_simpletuner
def test_simpletuner_latest_tie_and_unparsable_names(tmp_path, monkeypatch):
    """CheckpointManager.get_latest_checkpoint (3.1.6 checkpoint_manager.py L60-73): a rolling tie goes
    to os.listdir order; a `checkpoints` folder makes it return None (a silent fresh start)."""
    import st_sim

    for name in ("checkpoint-20", "checkpoint-30", "checkpoint-30-rolling", "checkpoint-40-tmp"):
        (tmp_path / name).mkdir()
    real_listdir = os.listdir
    for order in (sorted, lambda names: sorted(names, reverse=True)):
        monkeypatch.setattr(os, "listdir", lambda p, order=order: order(real_listdir(p)))
        winner = st_sim.latest_checkpoint(tmp_path)
        assert winner == ("checkpoint-30-rolling" if order is sorted else "checkpoint-30")
    monkeypatch.undo()
    (tmp_path / "checkpoints").mkdir()
    assert st_sim.latest_checkpoint(tmp_path) is None
