"""ckptfix's gate against real resumes (issue #21): exit 0 exactly when the trainer's own resume follows
the uninterrupted run's LRs. Ground truth: fixtures/resumes/ (README there); the cases where the gate is
wrong today are listed in fixtures/resumes/known_misses.txt, and this test keeps that list exact."""

from __future__ import annotations

import math
import sys

import pytest

from tests.helpers import FIXTURES

RESUMES = FIXTURES / "resumes"
sys.path.insert(0, str(RESUMES))

import agreement  # noqa: E402
import truth  # noqa: E402

CASES = truth.all_cases()
IDS = [f"{p.parent.name}/{p.name}" for p in CASES]
TRAINERS = {"transformers", "diffusers", "kohya", "accelerate", "simpletuner"}


@pytest.fixture(scope="module")
def accepted() -> set[str]:
    return agreement.accepted_options()


def test_the_corpus_is_there() -> None:
    found = {p.parent.name for p in CASES}
    assert {"transformers", "diffusers", "kohya", "accelerate"} <= found, found
    assert len(CASES) >= 40


@pytest.mark.parametrize("case_dir", CASES, ids=IDS)
def test_truth_is_well_formed(case_dir) -> None:
    doc = truth.load_truth(case_dir)
    assert doc["case"] == f"{case_dir.parent.name}/{case_dir.name}"
    assert doc["trainer"]["name"] == case_dir.parent.name in TRAINERS
    assert doc["trainer"]["version"] and doc["trainer"]["glue"]
    assert doc["writer"]["processes"] >= 1 and doc["resumer"]["processes"] >= 1
    assert (case_dir / doc["output_dir"]).is_dir() and (case_dir / doc["checkpoint"]).is_dir()
    assert all(isinstance(a, str) and a for a in doc["ckptfix_args"]), doc["ckptfix_args"]
    assert not doc["ckptfix_args"] or doc["ckptfix_args"][0].startswith("-"), doc["ckptfix_args"]
    steps = doc["steps"]
    assert steps == sorted(set(steps)) and steps and all(isinstance(s, int) and s > 0 for s in steps)
    assert len(doc["expected_lrs"]) == len(doc["resumed_lrs"]) == len(steps)
    assert all(x is None or (isinstance(x, float) and math.isfinite(x)) for x in doc["expected_lrs"] + doc["resumed_lrs"])
    if doc["resume_error"] is not None:
        assert doc["resumed_lrs"] == [None] * len(steps)
    expected = {s: lr for s, lr in zip(steps, doc["expected_lrs"]) if lr is not None}
    resumed = {s: lr for s, lr in zip(steps, doc["resumed_lrs"]) if lr is not None}
    assert expected, "the uninterrupted run has steps after the checkpoint"
    assert (doc["follows"], doc["first_wrong_step"]) == truth.compare(expected, resumed, doc["resume_error"])
    assert doc["notes"].strip()


@pytest.mark.parametrize("case_dir", CASES, ids=IDS)
def test_gate_agrees_with_the_real_resume(case_dir, accepted: set[str]) -> None:
    doc = truth.load_truth(case_dir)
    g = agreement.gate(case_dir, doc, accepted)
    assert g["exit"] in (0, 1, 3), g  # never a usage error (2), nothing-to-resume (4) or a bug (5)
    right = (g["exit"] == 0) == doc["follows"]
    misses = agreement.known_misses()
    said = f"{' '.join(g['argv'])} -> exit {g['exit']} {g['verdicts']} {g['findings']}; the resume " + (
        "follows" if doc["follows"] else f"does not follow from step {doc['first_wrong_step']}")
    if doc["case"] in misses:
        assert not right, f"{doc['case']} now agrees ({said}): remove it from fixtures/resumes/known_misses.txt"
    else:
        assert right, f"{doc['case']}: {said}. {doc['notes']}"


def test_known_misses_name_real_cases_with_a_reason() -> None:
    misses = agreement.known_misses()
    assert set(misses) <= set(IDS), set(misses) - set(IDS)
    assert all(why for why in misses.values())


def test_readme_states_the_current_figure() -> None:
    agree = len(CASES) - len(agreement.known_misses())
    text = (RESUMES / "README.md").read_text()
    assert f"agrees with the real resume in {agree} of {len(CASES)} cases" in text
