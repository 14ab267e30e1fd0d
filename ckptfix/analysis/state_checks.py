"""Findings about the trainer's state files as its resume reads them (issue 19), from the model (pure).

ckptfix reads ``training_state.json`` (SimpleTuner, and each ``training_state-rank{r}.json``), kohya's
``train_state.json`` and the transformers Trainer's ``trainer_state.json`` whatever their encoding, and takes a
step only from a JSON integer. The trainer is less forgiving; what its resume does is model data
(``model/trainers``: ``ResumeFile.if_undecodable``, ``ResumeValue``), per release range:

* CKF006: the file is not plain UTF-8 without a byte-order mark (UTF-16/32, a BOM): the trainer cannot decode it;
* CKF119: SimpleTuner's ``epoch_step`` (before 4.10: ``last_epoch = epoch_step × N``) is no JSON integer;
* CKF117: another value the resume computes with (a step, a logging interval) is no usable integer.

The code is the trainer's data (``ResumeValue.code``).
"""

from __future__ import annotations

from ckptfix.analysis.findings import Finding, make_finding
from ckptfix.analysis.report import RulesChoice
from ckptfix.model.checkpoint import Checkpoint, StateValue, TrainingState

__all__ = ["KIND_WORDS", "grouped", "state_file_findings", "trainer_state_files"]

#: How a message names a value's kind.
KIND_WORDS = {
    "missing": "missing", "bool": "a boolean", "null": "null", "string": "a string", "float": "a float",
    "fraction": "a fraction", "non-finite": "not a finite number", "list": "a list", "object": "an object",
    "negative": "negative", "huge": "beyond an int64 step counter", "zero": "zero",
}


def trainer_state_files(ck: Checkpoint) -> list[TrainingState]:
    """The trainer state files of ``ck`` that were read (the main one, then SimpleTuner's per-rank ones)."""
    files = [ck.training_state] if ck.training_state is not None else []
    files += [ts for _r, ts in ck.rank_states]
    return [ts for ts in files if ts.problem is None and ts.raw]


def state_file_findings(ck: Checkpoint, choice: RulesChoice) -> list[Finding]:
    """CKF006, CKF117 and CKF119 for every state file of ``ck`` the resume of ``choice``'s releases reads."""
    out: list[Finding] = []
    for ts in trainer_state_files(ck):
        out += _encoding(ts, choice)
        out += _values(ts, choice)
    return out


def grouped(pairs: list[tuple[str, str]], choice: RulesChoice) -> str:
    """``(release label, text)`` pairs as one sentence per distinct text, naming its releases (the trainer's
    name alone when the text holds for every release in question)."""
    by_text: dict[str, list[str]] = {}
    for label, text in pairs:
        by_text.setdefault(text, []).append(label)
    every = [r.label for r in choice.rules]
    return "; ".join(f"{choice.title if labels == every else ', '.join(labels)}: {text}"
                     for text, labels in by_text.items())


def _encoding(ts: TrainingState, choice: RulesChoice) -> list[Finding]:
    if ts.encoding is None:
        return []
    pairs = [(r.label, f.if_undecodable) for r in choice.rules for f in r.reads
             if f.name == ts.source and f.if_undecodable]
    if not pairs:
        return []
    return [make_finding("CKF006", ts.path, None, ts.encoding, "UTF-8 without a byte-order mark",
                         f"{ts.path.name} is {ts.encoding}, not plain UTF-8: {grouped(pairs, choice)}")]


def _shown(v: StateValue) -> str:
    words = KIND_WORDS.get(v.kind, v.kind)
    return words if v.kind in ("missing", "null") else f"{v.text} ({words})"


def _values(ts: TrainingState, choice: RulesChoice) -> list[Finding]:
    out = []
    codes = {rv.key: rv.code for r in choice.rules for rv in r.values if rv.file == ts.source}
    for key, code in codes.items():
        v = ts.value(key)
        if v is None:
            continue
        pairs = [(r.label, text) for r in choice.rules for rv in r.values
                 if rv.file == ts.source and rv.key == key and (text := rv.effect(v.kind))]
        if not pairs:
            continue
        out.append(make_finding(code, ts.path, key, v.text or v.kind, "an integer",
                                f"{ts.path.name} {key} is {_shown(v)}: {grouped(pairs, choice)}"))
    return out
