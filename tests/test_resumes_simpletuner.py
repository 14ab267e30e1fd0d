"""fixtures/resumes/simpletuner: the committed truth files agree with their own trajectories, with the
checkpoint files beside them, and with SimpleTuner's formulas and resume rules (read from its source,
written out here independently of the generators and of ckptfix).

Each resumed trajectory is recomputed from the files alone: the first resumed step uses optimizer.bin's
lr; step g + k uses the family's formula at the resume's position, ``last_epoch = epoch_step × N``
(3.1.6, trainer.py L3434-3437) or ``global_step × N`` (4.10.1, L5227-5228), plus N per step. The
uninterrupted trajectory is the formula at ``N × (s - 1)``. No gate verdicts here
(tests/test_resumes_gate.py runs the gate on these cases).
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers import FIXTURES

RESUMES = FIXTURES / "resumes"
ROOT = RESUMES / "simpletuner"
sys.path.insert(0, str(RESUMES))

import truth  # noqa: E402

CASES = [
    "st3-advice-two-rounds",
    "st3-constant-drift",
    "st3-constant_with_warmup-after-warmup-drift",
    "st3-constant_with_warmup-in-warmup-drift",
    "st3-cosine-drift",
    "st3-cosine-ga2-resumed",
    "st3-cosine-no-boundary",
    "st3-cosine_with_restarts-drift",
    "st3-linear-drift",
    "st3-n2-constant_with_warmup-in-warmup-drift",
    "st3-n2-cosine",
    "st3-n2-polynomial",
    "st3-n2-polynomial-drift",
    "st3-n2-sine-v2",
    "st3-polynomial-drift",
    "st3-polynomial-ga2-resumed",
    "st3-polynomial-no-boundary",
    "st3-sine-v2-drift",
    "st3-to-st4-n2-polynomial",
    "st3-to-st4-n2-sine-v2",
    "st3-to-st4-n2-sine-v2-advised-repair",
    "st4-constant_with_warmup-in-warmup-drift",
    "st4-cosine-drift",
    "st4-n2-polynomial-drift",
    "st4-n2-sine-v2",
    "st4-polynomial-drift",
    "st4-sine-v2-drift",
]

# Keys that tell the scheduler classes SimpleTuner's factory builds apart (torch 2.13 state_dict()).
CLASS_KEYS = {
    "Sine": {"T_0", "T_i", "T_cur", "T_mult", "eta_min"},  # v2 also has total_steps (checked below)
    "Cosine": {"T_0", "T_i", "T_cur", "steps_per_epoch"},
    "CosineAnnealingHardRestarts": {"T_0", "T_cur", "steps_per_epoch", "last_step"},
    "LambdaLR": {"lr_lambdas"},
}


def trunc(lr: float) -> float:
    return math.floor(lr * 1e9) / 1e9


def formula(doc: dict, e: int, state: dict | None = None) -> float:
    """The LR SimpleTuner's scheduler gives at scheduler position ``e`` (custom_schedule.py, 3.1.6 = 4.10.1
    for these classes; diffusers' get_scheduler for linear / constant*). Positions count scheduler steps:
    N per optimizer step, and T_0 / warmup / total are × N (the factory's accelerator.num_processes).
    ``state``: a loaded scheduler.bin, whose T_0 / eta_min / base_lrs replace the configuration's for the
    classes that keep them (load_state_dict is __dict__.update); a LambdaLR's lambda is never saved."""
    s = doc["scheduler"]
    p = s["params"]
    n = doc["writer"]["processes"]
    name = s["name"]
    base = p.get("learning_rate", p.get("base_lr"))
    eta = p.get("lr_end", p.get("eta_min"))
    t0 = p.get("T_0", p.get("lr_warmup_steps")) * n
    if state is not None and "T_0" in state:
        t0, eta, base = state["T_0"], state["eta_min"], state["base_lrs"][0]
    if doc["resumer"].get("formula", "").startswith("sine"):  # the fixed sine the resuming run runs
        return trunc(eta + (base - eta) * (0.5 + 0.5 * math.cos(2 * math.pi * (e % t0) / t0)))
    wn = p["lr_warmup_steps"] * n
    tn = p["max_train_steps"] * n
    if name == "sine":  # v2: total_steps = last_epoch (L389-433)
        return trunc(eta + (base - eta) * 0.5 * (1 + math.sin(math.pi * e / t0)))
    if name == "cosine":  # T_cur = -e with steps_per_epoch -1 (L195-281)
        return trunc(eta + (base - eta) * (1 + math.cos(math.pi * e / t0)) / 2)
    if name == "cosine_with_restarts":  # T_cur = e % -1 = 0 (L283-386)
        return trunc(base)
    if name == "polynomial":  # L103-154
        if e < wn:
            return base * e / max(1, wn)
        if e > tn:
            return base * (eta / base)
        decay = (base - eta) * (1 - (e - wn) / (tn - wn)) ** p["lr_power"] + eta
        return base * (decay / base)
    if name == "linear":
        if e < wn:
            return base * e / max(1, wn)
        return base * max(0.0, (tn - e) / max(1, tn - wn))
    if name == "constant":
        return base
    if name == "constant_with_warmup":
        return base * (e / max(1.0, wn) if e < wn else 1.0)
    raise AssertionError(f"no formula for {name}")


def same(a: float, b: float) -> bool:
    return truth.lr_equal(a, b) or abs(a - b) <= 1.5e-9  # SimpleTuner's own classes truncate to 1e-9


def load(name: str) -> dict:
    return truth.load_truth(ROOT / name)


def ckpt_dir(doc: dict) -> Path:
    return ROOT / doc["case"].split("/", 1)[1] / doc["checkpoint"]


def test_every_case_is_listed():
    assert sorted(p.name for p in truth.all_cases(RESUMES) if p.parent == ROOT) == CASES


@pytest.mark.parametrize("name", CASES)
def test_truth_is_consistent_with_its_trajectories(name):
    doc = load(name)
    assert doc["case"] == f"simpletuner/{name}"
    steps = doc["steps"]
    assert steps == list(range(steps[0], steps[-1] + 1))
    assert len(doc["expected_lrs"]) == len(doc["resumed_lrs"]) == len(steps)
    expected = dict(zip(steps, doc["expected_lrs"]))
    resumed = {s: lr for s, lr in zip(steps, doc["resumed_lrs"]) if lr is not None}
    assert (doc["follows"], doc["first_wrong_step"]) == truth.compare(expected, resumed, doc["resume_error"])
    assert doc["resume_error"] is None and doc["notes"]
    assert doc["trainer"]["version"] == doc["resumer"]["trainer_version"]


@pytest.mark.parametrize("name", CASES)
def test_checkpoint_files_say_what_the_truth_says(name):
    doc = load(name)
    ckpt = ckpt_dir(doc)
    g = int(ckpt.name.split("-")[1])
    ts = json.loads((ckpt / "training_state.json").read_text())
    assert ts["global_step"] == g == doc["steps"][0] - 1
    facts = doc["details"].get("checkpoint_facts") or doc["details"]["checkpoint_facts_after_repair"]
    assert ts["epoch_step"] == facts["epoch_step"]
    # SimpleTuner's latest rule (CheckpointManager.get_latest_checkpoint): the highest int after "checkpoint-"
    out = ROOT / name / doc["output_dir"]
    names = [p.name for p in out.iterdir() if p.name.startswith("checkpoint") and not p.name.endswith("tmp")]
    assert max(names, key=lambda x: int(x.split("-")[1])) == ckpt.name
    if "latest_by_simpletuner" in doc["details"]:
        assert doc["details"]["latest_by_simpletuner"] == ckpt.name
    sched = torch.load(ckpt / "scheduler.bin", weights_only=True)
    assert CLASS_KEYS[doc["scheduler"]["class"]] <= set(sched), sorted(sched)
    assert ("total_steps" in sched) == ("simpletuner-sine-v2" in doc["ckptfix_args"])  # v2 Sine (L389-433)
    n = doc["writer"]["processes"]
    if doc["output_dir"] == "repaired":  # ckptfix's repair wrote this scheduler.bin
        assert sched["last_epoch"] == doc["details"]["checkpoint_facts_after_repair"]["last_epoch"]
    elif doc["scheduler"]["name"] != "cosine_with_restarts":
        assert sched["last_epoch"] == n * g
    else:  # CosineAnnealingHardRestarts.step() moves last_step only, and raises from the second epoch on
        assert sched["last_epoch"] == -1 and sched["last_step"] < g
    files = {p.name for p in ckpt.iterdir()}
    ranks = {int(m.group(1)) for f in files if (m := re.fullmatch(r"random_states_(\d+)\.pkl", f))}
    if doc["writer"]["trainer_version"] == "3.1.6":  # rank 0 saves alone (trainer.py L3742-3743)
        assert ranks == {0} and not any(f.startswith("training_state-rank") for f in files)
        assert ".guard" not in files and "checkpoint_manifest.json" not in files
    else:  # every rank saves; rank 0 writes the manifest and the guard last (4.10.1 L6654-6767)
        assert ranks == set(range(n))
        assert {f"training_state-rank{r}.json" for r in range(1, n)} <= files
        assert (ckpt / ".guard").read_text() == "complete\n"
        manifest = json.loads((ckpt / "checkpoint_manifest.json").read_text())
        assert manifest["files"] == sorted(files - {".guard", "checkpoint_manifest.json"})


@pytest.mark.parametrize("name", CASES)
def test_trajectories_follow_the_formula_and_the_resume_rule(name):
    doc = load(name)
    ckpt = ckpt_dir(doc)
    g = doc["steps"][0] - 1
    n = doc["resumer"]["processes"]
    assert n == doc["writer"]["processes"]  # no case here changes the world size
    for s, lr in zip(doc["steps"], doc["expected_lrs"]):
        assert same(lr, formula(doc, n * (s - 1))), (s, lr, formula(doc, n * (s - 1)))
    ts = json.loads((ckpt / "training_state.json").read_text())
    position = ts["epoch_step"] * n if doc["resumer"]["trainer_version"] == "3.1.6" else g * n
    assert doc["details"]["resumed_last_epoch"] == position
    opt_lr = torch.load(ckpt / "optimizer.bin", weights_only=True)["param_groups"][0]["lr"]
    name_ = doc["scheduler"]["name"]
    if name_ == "constant" and doc["resumer"]["trainer_version"] == "3.1.6":
        opt_lr = doc["scheduler"]["params"]["learning_rate"]  # reset on resume (trainer.py L3365-3372)
    if name_.startswith("constant") and doc["resumer"]["trainer_version"] == "4.10.1":
        opt_lr = formula(doc, g * n)  # _restore_constant_scheduler_lr (4.10.1 L5006-5042)
    sched = torch.load(ckpt / "scheduler.bin", weights_only=True)
    want = [opt_lr] + [formula(doc, position + n * k, sched) for k in range(1, len(doc["steps"]))]
    for s, got, w in zip(doc["steps"], doc["resumed_lrs"], want):
        assert same(got, w), (s, got, w)


def test_the_drift_cases_show_what_issue_21_reports():
    """Counts of wrong resumed steps (of 20) under 3.1.6; 4.10.1 resumes the same configurations on schedule."""
    def wrong(name: str) -> int:
        d = load(name)
        return sum(not truth.lr_equal(a, b) for a, b in zip(d["expected_lrs"], d["resumed_lrs"]))

    assert {n: wrong(n) for n in ("st3-cosine-drift", "st3-polynomial-drift",
                                  "st3-constant_with_warmup-in-warmup-drift")} == {
        "st3-cosine-drift": 17, "st3-polynomial-drift": 19, "st3-constant_with_warmup-in-warmup-drift": 9}
    for n in ("st4-cosine-drift", "st4-polynomial-drift", "st4-constant_with_warmup-in-warmup-drift",
              "st4-sine-v2-drift", "st3-cosine-no-boundary"):
        assert load(n)["follows"], n
