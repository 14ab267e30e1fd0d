"""The resume-files rule (CKF004): a checkpoint that lacks what its trainer's resume loads is a finding.

An empty ``checkpoint-N``, or one a killed save left half-written (the diffusers scripts save straight
into ``checkpoint-N``, no ``-tmp`` first), is the one a resume picks as "latest", and the resume then
stops on the first missing file. What each trainer loads is model data (``model/resume_files.py``);
this rule compares it with the checkpoint's files.
"""

from __future__ import annotations

import re

from ckptfix.analysis.findings import Finding, make_finding
from ckptfix.formats.scan import name_matches
from ckptfix.model.checkpoint import Checkpoint
from ckptfix.model.layouts import get_layout
from ckptfix.model.resume_files import ResumeFiles

__all__ = ["missing_files", "resume_file_findings"]

_NUMBERED = re.compile(r"^(?P<stem>.+?)_(?P<i>\d+)(?P<ext>\.[^./]+)$")


def resume_file_findings(ck: Checkpoint) -> list[Finding]:
    """CKF004 for every file the resume of ``ck`` loads (its layout's ``resume_files``) that is not there."""
    return missing_files(ck, get_layout(ck.layout).resume_files)


def missing_files(ck: Checkpoint, spec: ResumeFiles | None) -> list[Finding]:
    """CKF004 for every file of ``spec`` that ``ck`` lacks (nothing when ckptfix does not know what the resume
    loads, or the layout did not list the folder)."""
    if spec is None or ck.files is None:
        return []
    files = ck.files
    out: list[Finding] = []
    state = "is empty" if not files else "is incomplete"
    for req in spec.required:
        if req.judged_elsewhere_when_optimizer_present and ck.optimizers:
            continue
        if any(name_matches(f, pat) for f in files for pat in req.patterns):
            continue
        out.append(make_finding(
            "CKF004", ck.path / req.patterns[0], None, "missing", "present",
            f"{req.missing}; {ck.name} {state} (a killed save?): resuming from it would stop"))
    out += _gaps(ck, spec)
    return out


def _gaps(ck: Checkpoint, spec: ResumeFiles) -> list[Finding]:
    """``optimizer_2.bin`` next to ``optimizer.bin`` but no ``optimizer_1.bin``: the resume loads by index."""
    top = {f for f in ck.files or () if "/" not in f}
    out = []
    for stem in spec.numbered + spec.numbered_from_zero:
        from_zero = stem in spec.numbered_from_zero
        found: dict[str, set[int]] = {}
        for name in top:
            m = _NUMBERED.match(name)
            if m and m.group("stem") == stem:
                found.setdefault(m.group("ext"), set()).add(int(m.group("i")))
        for ext, indexes in sorted(found.items()):
            if not from_zero and f"{stem}{ext}" in top:
                indexes = indexes | {0}
            for i in range(max(indexes)):
                if i in indexes:
                    continue
                name = f"{stem}{ext}" if i == 0 and not from_zero else f"{stem}_{i}{ext}"
                if stem in ("model", "pytorch_model") and i == 0 and {"model.safetensors", "pytorch_model.bin"} & top:
                    continue  # model 0 saved in the other format
                out.append(make_finding(
                    "CKF004", ck.path / name, None, "missing", "present",
                    f"{name} is missing but {stem}_{max(indexes)}{ext} is there: the resume loads them by "
                    f"index and would stop at {name}"))
    return out
