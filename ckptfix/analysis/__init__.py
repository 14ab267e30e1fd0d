"""Findings: each checkpoint's state checked against the reference formula (``checks.py``), the catalogue
of finding codes (``findings.py``), the per-checkpoint report and the read-only pipeline (``run.py``), the
options a user states (``options.py``).

The names below load their modules on first use: ``ckptfix.analysis.options`` (which the CLI imports for
``--help``) does not pull in the whole analysis.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ckptfix.analysis.checks import analyse
    from ckptfix.analysis.findings import RULES, Finding, Rule, exit_code, lookup
    from ckptfix.analysis.options import Options
    from ckptfix.analysis.report import CheckpointReport, SchedulerReport, StepInfo
    from ckptfix.analysis.run import inspect_path

__all__ = [
    "RULES", "CheckpointReport", "Finding", "Options", "Rule", "SchedulerReport", "StepInfo", "analyse", "exit_code",
    "inspect_path", "lookup",
]

_LAZY = {
    "analyse": "checks", "RULES": "findings", "Finding": "findings", "Rule": "findings", "exit_code": "findings",
    "lookup": "findings", "Options": "options", "CheckpointReport": "report", "SchedulerReport": "report",
    "StepInfo": "report", "inspect_path": "run",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ckptfix.analysis' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ckptfix.analysis.{module}"), name)
