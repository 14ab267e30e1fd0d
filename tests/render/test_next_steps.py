"""The findings counted by severity for the closing line (the command itself: tests/api/test_next_steps.py)."""

from __future__ import annotations

from ckptfix.analysis.report import Options
from ckptfix.analysis.run import inspect_path
from ckptfix.render.next_steps import counts
from tests.helpers import FIXTURES


def findings(name: str, opts: Options = Options()):
    _, reports = inspect_path(FIXTURES / name, opts)
    return [f for r in reports for f in r.findings]


def test_counts():
    assert counts(findings("sine-v2", Options(lr_end=1e-5))) == "2 errors (CKF031, CKF115), 1 warning (CKF060)"
    assert counts(findings("hostile")) == "1 fatal (CKF003)"
    assert counts(findings("sine-ok")) == ""
