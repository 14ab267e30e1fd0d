"""The closing line's pieces for people: the findings counted by severity. The command to run next is
built in ``api/next_steps.py`` (``inspect --json`` carries it too); its names are re-exported here for
the renderers that print it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from ckptfix.api.next_steps import (
    PLACEHOLDERS,
    SEVERITIES,
    given_flags,
    next_command,
    placeholders,
    quote,
    repair_words,
)

__all__ = ["PLACEHOLDERS", "Coded", "counts", "given_flags", "next_command", "placeholders", "quote",
           "repair_words"]


class Coded(Protocol):
    """What ``counts`` reads of a finding: a ``Finding``, or one read back from a run's ``--json``."""

    @property
    def code(self) -> str: ...
    @property
    def severity(self) -> str: ...


def counts(findings: Iterable[Coded]) -> str:
    """``1 error (CKF030), 1 warning (CKF040)``: the findings that matter, by severity."""
    shown = [f for f in findings if f.severity != "info"]
    parts = []
    for sev in SEVERITIES[:3]:
        of = [f for f in shown if f.severity == sev]
        if of:
            codes = ", ".join(dict.fromkeys(f.code for f in of))
            word = sev if sev == "fatal" else f"{sev}{'s' if len(of) != 1 else ''}"
            parts.append(f"{len(of)} {word} ({codes})")
    return ", ".join(parts)
