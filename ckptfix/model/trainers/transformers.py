"""The Hugging Face ``transformers.Trainer`` (the ``hf-trainer`` layout).

It saves ``checkpoint-{global_step}`` with ``trainer_state.json``, ``scheduler.pt`` and ``optimizer.pt``
on rank 0 and ``rng_state_{rank}.pth`` on every rank (``rng_state.pth`` with one process); it steps its
scheduler once per optimizer step (not N times) and restores ``scheduler.pt`` as saved. "Latest"
(``trainer_utils.get_last_checkpoint``): folders matching ``^checkpoint-(\\d+)$``, the highest number;
other names are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ckptfix.model.trainers.interface import (
    LatestPick,
    ResumeFile,
    ResumeValue,
    TrainerModel,
    TrainerRules,
    VersionRange,
    highest,
)

__all__ = ["TRANSFORMERS", "TransformersModel"]

_NAME = re.compile(r"^checkpoint-(\d+)$")
_TORCH_FILES = ("scheduler.pt", "optimizer.pt")
_STATE = "trainer_state.json"
_LOADED = ("train(resume_from_checkpoint=...) loads it (TrainerState.load_from_json: open(path, encoding=\"utf-8\") "
           "and json.loads)")
_READS = (ResumeFile(_STATE, True, "train(resume_from_checkpoint=...) raises FileNotFoundError",
                     f"{_LOADED}: a byte-order mark raises JSONDecodeError (Unexpected UTF-8 BOM), UTF-16/32 "
                     "UnicodeDecodeError, and the resume stops"),)
_STOPS = "the resume stops with a {} ({})"
_GLOBAL_STEP = ResumeValue(_STATE, "global_step", (
    ("missing", "TrainerState's default is 0: the Trainer resumes at step 0 and trains max_steps steps again, while "
                "scheduler.pt goes on from its own position (the schedule ends early; the last steps run at its final LR)"),
    ("bool", "the Trainer computes with it as 1 or 0: it resumes counting from there while scheduler.pt goes on from "
             "its own position"),
    ("negative", "the Trainer resumes counting from a negative step and trains more than max_steps steps while "
                 "scheduler.pt goes on from its own position"),
    ("null", _STOPS.format("TypeError", "global_step // steps_per_epoch")),
    ("string", _STOPS.format("TypeError", "global_step // steps_per_epoch")),
    ("list", _STOPS.format("TypeError", "global_step // steps_per_epoch")),
    ("object", _STOPS.format("TypeError", "global_step // steps_per_epoch")),
    ("float", _STOPS.format("TypeError", "'float' object cannot be interpreted as an integer")),
    ("fraction", _STOPS.format("TypeError", "'float' object cannot be interpreted as an integer")),
    ("non-finite", _STOPS.format("ValueError", "cannot convert float NaN to integer")),
    ("huge", "the Trainer resumes past max_steps and trains nothing"),
), "transformers 5.25 trainer.py _inner_training_loop L1709-1724, trainer_callback.py TrainerState.load_from_json L150-154")
_CADENCE = "{} (the resumed state's, not the run's): the first step's check, global_step % {}, "
_LOGGING_STEPS = ResumeValue(_STATE, "logging_steps", tuple(
    (kind, _CADENCE.format("with logging_strategy 'steps' (the default) the Trainer logs by this value", "logging_steps")
     + f"raises {err}: the resume stops") for kind, err in (
        ("null", "a TypeError"), ("string", "a TypeError"), ("list", "a TypeError"), ("object", "a TypeError"),
        ("zero", "ZeroDivisionError"))), "transformers 5.25 trainer_callback.py DefaultFlowCallback.on_step_end L572")
_EVAL_STEPS = ResumeValue(_STATE, "eval_steps", tuple(
    (kind, _CADENCE.format("with eval_strategy 'steps' the Trainer evaluates by this value", "eval_steps")
     + f"raises {err}: the resume stops") for kind, err in (
        ("null", "a TypeError"), ("string", "a TypeError"), ("list", "a TypeError"), ("object", "a TypeError"),
        ("zero", "ZeroDivisionError"))), "transformers 5.25 trainer_callback.py DefaultFlowCallback.on_step_end L576-580")
_SAVE_STEPS = ResumeValue(_STATE, "save_steps", tuple(
    (kind, "with save_strategy 'steps' (the default) the Trainer saves by this value (the resumed state's): the first "
           "step's check, save_steps > 0, raises a TypeError: the resume stops") for kind in ("null", "string", "list", "object")),
    "transformers 5.25 trainer_callback.py DefaultFlowCallback.on_step_end L583-587")


def _number(name: str) -> int | None:
    m = _NAME.match(name)
    return int(m.group(1)) if m else None


class TransformersModel(TrainerModel):
    name = "transformers"
    title = "transformers Trainer"
    package = "transformers"
    picks_folders_only = True  # get_last_checkpoint keeps names for which os.path.isdir holds
    rules = (
        TrainerRules("transformers Trainer", VersionRange(), "stored", "all", "trainer_state.json global_step", None,
                     _READS, "transformers trainer_utils.get_last_checkpoint, Trainer._save_rng_state; the resume's "
                     "reads checked with transformers 5.25.0",
                     ("src/transformers/trainer_utils.py get_last_checkpoint", "src/transformers/trainer.py _save_rng_state",
                      "src/transformers/trainer_callback.py TrainerState.load_from_json"),
                     (_GLOBAL_STEP, _LOGGING_STEPS, _EVAL_STEPS, _SAVE_STEPS)),
    )

    def detect(self, folder_name: str, names: frozenset[str], parent_name: str = "") -> bool:
        if "trainer_state.json" in names:
            return True
        accelerate_files = any(n.startswith(("scheduler", "optimizer")) and n.endswith(".bin") for n in names)
        return not accelerate_files and any(n in names for n in _TORCH_FILES)

    def is_checkpoint_name(self, name: str) -> bool:
        return _NAME.match(name) is not None

    def folder_step(self, name: str) -> int | None:
        return _number(name)

    def latest(self, names: Sequence[str]) -> LatestPick:
        chosen, _ignored = highest([n for n in names if _NAME.match(n)], _number)
        if len(chosen) > 1:
            return LatestPick(chosen, False, f"{' and '.join(chosen)} carry the same number; max() keeps the first in "
                              "os.listdir order: every one of them is checked", tie=True)
        return LatestPick(chosen, True, "the Trainer resumes the highest N among folders named exactly checkpoint-N")


TRANSFORMERS = TransformersModel()
