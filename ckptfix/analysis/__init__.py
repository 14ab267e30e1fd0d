"""Findings: each checkpoint's state checked against the reference formula (``checks.py``), the catalogue
of finding codes (``findings.py``), the per-checkpoint report and the read-only pipeline (``run.py``)."""

from ckptfix.analysis.checks import analyse
from ckptfix.analysis.findings import RULES, Finding, Rule, exit_code, lookup
from ckptfix.analysis.report import CheckpointReport, Options, SchedulerReport, StepInfo
from ckptfix.analysis.run import inspect_path

__all__ = [
    "RULES", "CheckpointReport", "Finding", "Options", "Rule", "SchedulerReport", "StepInfo", "analyse", "exit_code",
    "inspect_path", "lookup",
]
