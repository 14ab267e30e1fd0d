"""The files a trainer's own resume needs, beyond accelerate's ``load_state`` (``resume_files.py``), from the model
to findings (pure). What each trainer reads is its model's data (``model/trainers``: ``TrainerRules.reads``,
``TrainerRules.together``), per release range:

* CKF004: a file its resume reads without a fallback is missing (the transformers Trainer's
  ``trainer_state.json``, written last: a save killed before it): the resume stops;
* CKF140: files its resume loads only together, one of them missing (the Trainer's ``optimizer.pt`` and
  ``scheduler.pt``): it loads none of them, silently, and the schedule starts again.
"""

from __future__ import annotations

from ckptfix.analysis.findings import Finding, make_finding
from ckptfix.analysis.report import RulesChoice
from ckptfix.analysis.state_checks import grouped
from ckptfix.formats.scan import name_matches
from ckptfix.model.checkpoint import Checkpoint
from ckptfix.model.trainers import LoadedTogether

__all__ = ["SAVE_ONLY_MODEL", "trainer_file_findings"]

#: What a run saved with ``save_only_model=True`` is (transformers 5.24.0 training_args.py L470-474).
SAVE_ONLY_MODEL = ("training_args.bin says save_only_model=True: this run saves the model's weights only (no "
                   "optimizer, scheduler or RNG state), and transformers documents that such a checkpoint cannot "
                   "resume training (training_args.py L470-474); every checkpoint of the run is the same")


def trainer_file_findings(ck: Checkpoint, choice: RulesChoice, step: int | None) -> list[Finding]:
    """CKF004 and CKF140 for the files the resume of ``choice``'s releases reads that ``ck`` lacks (nothing when
    the layout did not list the folder); ``step``: the checkpoint's step, for messages."""
    if ck.files is None:
        return []
    files = ck.files
    out: list[Finding] = []
    required: dict[str, list[tuple[str, str]]] = {}
    for r in choice.rules:
        for f in r.reads:
            if f.required and f.name not in files:
                required.setdefault(f.name, []).append((r.label, f.if_missing))
    for name, pairs in required.items():
        out.append(make_finding("CKF004", ck.path / name, None, "missing", "present",
                                f"{name} is missing: {grouped(pairs, choice)}; {ck.name} is incomplete (a killed save?)"))
    if ck.engine is not None:  # with DeepSpeed the engine loads the optimizer, scheduler.pt on its own (L3899-3908)
        return out
    groups: dict[LoadedTogether, list[str]] = {}
    for r in choice.rules:
        for g in r.together:
            groups.setdefault(g, []).append(r.label)
    for group, labels in groups.items():
        missing = [label for entry, label in zip(group.files, group.labels)
                   if not any(name_matches(f, pattern) for f in files for pattern in entry)]
        if not missing:
            continue
        who = "" if len(labels) == len(choice.rules) else f"{', '.join(labels)}: "
        when = f", from step {step + 1} on" if step is not None else ""
        msg = (f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing: {who}{group.if_missing}"
               f"{when} ({group.source})")
        config = ck.run_config
        if config is not None and getattr(config, "problem", None) is None and config.get("save_only_model") is True:
            msg = f"{SAVE_ONLY_MODEL}. {msg}"
        out.append(make_finding("CKF140", ck.path / missing[0], None, "missing", "present", msg))
    return out

