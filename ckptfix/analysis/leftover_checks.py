"""CKF005: what a killed ``ckptfix repair`` left in a checkpoint (``model/leftovers.py``)."""

from __future__ import annotations

from ckptfix.analysis.findings import Finding, make_finding
from ckptfix.model.checkpoint import Checkpoint

__all__ = ["leftover_findings"]

_WHAT = {
    "temp-file": "a temporary file left by a killed ckptfix repair",
    "lock-temp": "a lock file a killed ckptfix repair was creating",
    "empty-lock": "an empty repair lock (a repair stopped before writing its owner: disk full, or killed)",
    "incomplete-backup": "a backup folder without its manifest: a killed repair stopped before changing anything",
}


def leftover_findings(ck: Checkpoint) -> list[Finding]:
    out = []
    for lo in ck.repair_leftovers:
        fix = ("`ckptfix repair` removes it" if lo.own else
               "it holds files ckptfix does not write, so repair leaves it: look at it and remove it by hand")
        out.append(make_finding("CKF005", ck.path / lo.path, None, lo.kind, None,
                                f"{lo.path}: {_WHAT[lo.kind]}; {fix}"))
    return out
