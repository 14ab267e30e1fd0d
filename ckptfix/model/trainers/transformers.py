"""The Hugging Face ``transformers.Trainer`` (the ``hf-trainer`` layout).

It saves ``checkpoint-{global_step}`` with ``trainer_state.json``, ``scheduler.pt`` and ``optimizer.pt``
on rank 0 and ``rng_state_{rank}.pth`` on every rank (``rng_state.pth`` with one process); it steps its
scheduler once per optimizer step (not N times) and restores ``scheduler.pt`` as saved. "Latest"
(``trainer_utils.get_last_checkpoint``): folders matching ``^checkpoint-(\\d+)$``, the highest number;
other names are ignored.

In which order (transformers 5.24.0 ``trainer.py`` ``_save_checkpoint`` L3363-3417): the model and
``training_args.bin`` (``save_model``, L3377, L4185), then ``optimizer.pt``, ``scheduler.pt``, ``scaler.pt`` and
``rng_state*.pth`` unless ``save_only_model`` (L3398-3403), ``trainer_state.json`` last (L3417). A save killed
on the way leaves a ``checkpoint-N`` with some of these: it is still the Trainer's (``detect``), and still the
folder ``get_last_checkpoint`` picks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ckptfix.model.trainers.interface import (
    LatestPick,
    LoadedTogether,
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
_RNG = re.compile(r"^rng_state(?:_\d+)?\.pth$")
_STATE = "trainer_state.json"
#: Files no other trainer writes into a checkpoint folder (``training_args.bin``: ``save_model``, trainer.py L4185).
_OWN = (_STATE, "training_args.bin")
_LOADED = ("train(resume_from_checkpoint=...) loads it (TrainerState.load_from_json: open(path, encoding=\"utf-8\") "
           "and json.loads)")
_READS = (ResumeFile(_STATE, True, "train(resume_from_checkpoint=...) reads it (TrainerState.load_from_json, "
                     "trainer.py L1565 in 5.24.0) and raises FileNotFoundError: the Trainer writes it last "
                     "(_save_checkpoint L3417), so a save killed before the end leaves a folder without it, and "
                     "get_last_checkpoint (trainer_utils.py L270-279) still picks it as the latest",
                     f"{_LOADED}: a byte-order mark raises JSONDecodeError (Unexpected UTF-8 BOM), UTF-16/32 "
                     "UnicodeDecodeError, and the resume stops"),)
#: ``_load_optimizer_and_scheduler`` (5.24.0 trainer.py L3910-3931, called at L1817): the optimizer (optimizer.pt,
#: or optimizer.bin, or a folder named with "optimizer": FSDP) and scheduler.pt are loaded only when both are there.
_TOGETHER = (LoadedTogether(
    (("optimizer.pt", "optimizer.bin", "*optimizer*/*"), ("scheduler.pt",)), ("optimizer.pt", "scheduler.pt"),
    "the Trainer loads optimizer.pt and scheduler.pt only when both are there, and otherwise loads neither and says "
    "nothing: the resumed run starts with a fresh optimizer (its moments lost) and a fresh LR scheduler at position "
    "0, so the LR schedule starts again (the warmup runs again)",
    "transformers 5.24.0 trainer.py _load_optimizer_and_scheduler L3910-3931 (called at L1817)"),)
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
                     (_GLOBAL_STEP, _LOGGING_STEPS, _EVAL_STEPS, _SAVE_STEPS),
                     # the Trainer does not pass its scheduler to accelerator.prepare: one step() per optimizer step
                     # (5.24.0 trainer.py L1769-1773: model and optimizer prepared, L1949-1952: lr_scheduler.step())
                     stepping="once", factory="hf_trainer_schedule", together=_TOGETHER),
    )

    def detect(self, folder_name: str, names: frozenset[str], parent_name: str = "") -> bool:
        """``trainer_state.json`` or ``training_args.bin``; else, without accelerate's files, ``scheduler.pt`` /
        ``optimizer.pt`` / ``rng_state*.pth``, or (a save killed inside ``save_model``, which writes the model's
        ``config.json`` first) ``config.json`` in a folder named ``checkpoint-N``."""
        if any(n in names for n in _OWN):
            return True
        if any(n.startswith(("scheduler", "optimizer")) and n.endswith(".bin") for n in names):
            return False  # accelerate's save_state
        if any(n in names for n in _TORCH_FILES) or any(_RNG.match(n) for n in names):
            return True
        return ("config.json" in names and _NAME.match(folder_name) is not None
                and not any(n.startswith("random_states_") for n in names))

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
