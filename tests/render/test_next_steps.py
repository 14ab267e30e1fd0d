"""The command to run next, from the findings' rules and the flags the user gave."""

from __future__ import annotations

import pytest

from ckptfix.analysis.findings import make_finding
from ckptfix.analysis.report import Options
from ckptfix.analysis.run import inspect_path
from ckptfix.render.next_steps import counts, next_command, placeholders
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
    assert next_command([f], "out", True, Options(), dry_run=False, done=["--optimizer-lr"]) == \
        "ckptfix repair out --latest --optimizer-lr"


def test_counts_and_placeholders():
    assert counts(findings("sine-v2", Options(lr_end=1e-5))) == "1 error (CKF031), 2 warnings (CKF060, CKF115)"
    assert counts(findings("hostile")) == "1 fatal (CKF003)"
    assert placeholders("ckptfix repair x --lr-warmup-steps W --lr-end E") == \
        "W: the run's --lr_warmup_steps; E: the run's --lr_end"
    assert placeholders("ckptfix repair x") is None
