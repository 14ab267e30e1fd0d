"""The command to run next, from the findings' rules and the flags the user gave; and ``inspect --json``'s
``next``, which a launcher runs (docs/exit-codes.md)."""

from __future__ import annotations

import pytest

import ckptfix
from ckptfix.analysis.findings import make_finding
from ckptfix.analysis.report import Options
from ckptfix.analysis.run import inspect_path
from ckptfix.api.next_steps import next_command, placeholders
from ckptfix.api.results import next_step
from tests.helpers import FIXTURES


def findings(name: str, opts: Options = Options()):
    _, reports = inspect_path(FIXTURES / name, opts)
    return [f for r in reports for f in r.findings]


@pytest.mark.parametrize("name, latest, command", [
    ("sine-v1", True, "ckptfix repair out --latest --optimizer-lr --dry-run"),  # CKF115: the stored v1 lr
    ("sine-v2-no-step-count", False, "ckptfix repair out --num-processes N --dry-run"),  # CKF110: one RNG file
    ("missing-scheduler", False, "ckptfix repair out --lr-warmup-steps W --lr-end E --dry-run"),
    ("step-mismatch", False, "ckptfix repair out --step G --dry-run"),
    ("hostile", False, "ckptfix repair out --recreate --lr-warmup-steps W --lr-end E --dry-run"),
    ("trainers/hf-trainer-edited", False, "ckptfix explain CKF100"),
    ("sine-ok", False, None),
    ("lambdalr", False, None),
])
def test_next_command_per_fixture(name, latest, command):
    assert next_command(findings(name), "out", latest, Options()) == command


def test_the_flags_given_are_carried_and_a_warning_gets_its_own_flag():
    opts = Options(lr_end=1e-5, num_processes=2)
    got = next_command(findings("sine-ok", opts), "my run", False, opts)
    assert got == "ckptfix repair 'my run' --num-processes 2 --lr-end 1e-05 --dry-run"
    f = make_finding("CKF040", "x/optimizer.bin", "param_groups[0].lr", 1.0, 2.0, "optimizer lr differs")
    assert next_command([f], "out", True, Options()) == "ckptfix repair out --latest --optimizer-lr --dry-run"
    assert next_command([f], "out", True, Options(optimizer_lr=True), dry_run=False) == \
        "ckptfix repair out --latest --optimizer-lr"


def test_placeholders():
    assert placeholders("ckptfix repair x --lr-warmup-steps W --lr-end E") == \
        "W: the run's --lr_warmup_steps; E: the run's --lr_end"
    assert placeholders("ckptfix repair x") is None


@pytest.mark.parametrize("name, latest, argv, kind, needs, ready", [
    ("sine-v1", True, ["ckptfix", "repair", "my run", "--latest", "--optimizer-lr"], "repair", None, True),
    ("missing-scheduler", False, ["ckptfix", "repair", "my run", "--lr-warmup-steps", "W", "--lr-end", "E"], "repair",
     "W: the run's --lr_warmup_steps; E: the run's --lr_end", False),
    ("trainers/hf-trainer-edited", False, ["ckptfix", "explain", "CKF100"], "explain", None, False),
])
def test_next_step_is_the_advice_as_words_without_dry_run(name, latest, argv, kind, needs, ready):
    step = next_step(findings(name), "my run", latest, Options())
    assert list(step.argv) == argv and step.command == " ".join(argv).replace("my run", "'my run'")
    assert (step.kind, step.needs, step.ready) == (kind, needs, ready)
    assert next_step(findings("sine-ok"), "out", False, Options()) is None


def test_a_path_named_like_a_placeholder_is_not_one():
    assert next_step(findings("sine-v1"), "W", True, Options()).ready


def test_check_carries_the_command_for_the_path_and_flags_given():
    result = ckptfix.check(FIXTURES / "sine-v1", lr_end=1e-6)
    assert result.next.argv == ("ckptfix", "repair", str(FIXTURES / "sine-v1"), "--latest", "--lr-end", "1e-06",
                                "--optimizer-lr")
    assert result.to_json()["next"]["ready"] is True
    assert ckptfix.check(FIXTURES / "sine-ok").next is None
