"""SimpleTuner (bghira/SimpleTuner): three version ranges of its resume (docs/trainers.md, "SimpleTuner").

=====================  ===========================================  ==================  ==============
releases               ``last_epoch`` after ``load_state``          ranks that save     formula
=====================  ===========================================  ==================  ==============
1.0 to < 4.9.3         ``training_state.json`` ``epoch_step`` × N   rank 0 only         v2 sine
4.9.3 to < 4.10.0      ``epoch_step`` × N                           every rank          v2 sine
>= 4.10.0              ``global_step`` × N (``global_resume_step``) every rank          v2 sine
=====================  ===========================================  ==================  ==============

N is the *resuming* process count. The step is ``training_state.json`` ``global_step`` in every range.

Who saved is a fact of the *writing* release (``writers``), which need not be the resuming one: releases before
4.0.6 write no ``checkpoint_manifest.json`` and save on rank 0 only; 4.0.6 to 4.9.2 write it and save on rank 0
only; from 4.9.3 every rank saves (``training_state-rank{r}.json``, ``random_states_{r}.pkl``).
"Latest" (``CheckpointManager.get_latest_checkpoint``): every ``os.listdir`` entry (files too) whose name
starts with ``checkpoint`` and does not end in ``tmp``, sorted by ``int(name.split("-")[1])``, the last one;
an entry where that ``int()`` fails makes it return None, and the trainer starts a new run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ckptfix.model.trainers.interface import (
    FolderClaim,
    LatestPick,
    ResumeFile,
    ResumeValue,
    TrainerModel,
    TrainerRules,
    VersionRange,
    WriterRules,
    checkpoint_number,
    highest,
)

__all__ = ["SIMPLETUNER", "SimpleTunerModel", "simpletuner_key"]

_V2 = "simpletuner-sine-v2"
_STEP = "training_state.json global_step (0 when the file is missing)"
_READS = (
    ResumeFile("training_state.json", False, "the resume takes global_step 0 and epoch_step 0: the run restarts its "
               "step count (and, with the override, its LR position) at 0",
               "StateTracker.load_training_state reads it with json.load(open(path)), as text in the locale's encoding "
               "(UTF-8, no byte-order mark); here that raises, SimpleTuner logs \"Error loading training state\" and "
               "resumes with global_step 0 and epoch_step 0: its step count and, through last_epoch, the whole LR "
               "schedule restart from the beginning"),
)
#: What the resume does with the values of training_state.json (and training_state-rank{r}.json) that are no
#: JSON integer; each checked with SimpleTuner 3.1.6's own StateTracker and Sine (tests/analysis/test_state_checks.py).
_TYPE_ERROR = "the resume stops with a TypeError ({})"
_GLOBAL_STEP = ResumeValue("training_state.json", "global_step", (
    ("missing", "SimpleTuner takes global_step 0 (StateTracker's default): the resumed run counts its steps from 0 and "
                "trains the whole run again (from 4.10 its LR schedule restarts too: last_epoch = 0)"),
    ("bool", "SimpleTuner computes with it as 1 or 0: the resumed run counts its steps from there, not from the "
             "checkpoint's step (from 4.10 its LR position too)"),
    ("negative", "the resumed run counts its steps from a negative number and trains steps again (from 4.10 last_epoch "
                 "is negative: ckptfix's Sine rejects every step, SimpleTuner logs it and the LR stays at optimizer.bin's)"),
    ("null", _TYPE_ERROR.format("global_step += 1; from 4.10 already at last_epoch = global_step × N")),
    ("string", _TYPE_ERROR.format("global_step += 1 on a string")),
    ("list", _TYPE_ERROR.format("global_step += 1 on a list")),
    ("object", _TYPE_ERROR.format("global_step += 1 on a dict; from 4.10 already at last_epoch = global_step × N")),
    ("float", "SimpleTuner counts on in floats and saves checkpoint-40.0, a name its own latest rule cannot sort (a "
              "later resume starts a new run); from 4.10 last_epoch is a float: ckptfix's Sine rejects every step, "
              "SimpleTuner logs it and the LR stays at optimizer.bin's"),
    ("fraction", "SimpleTuner counts on in fractions and saves checkpoint-40.5, a name its own latest rule cannot sort "
                 "(a later resume starts a new run); from 4.10 the LR runs between its steps (stock v2) or stays at "
                 "optimizer.bin's (ckptfix's Sine rejects every step; SimpleTuner logs it)"),
    ("non-finite", "SimpleTuner's step count is no number any more (global_step < max_train_steps never holds: the "
                   "resumed run trains nothing, or saves checkpoint-inf); from 4.10 last_epoch is not a number either"),
    ("huge", "global_step >= max_train_steps at once, so the resumed run trains nothing"),
), "3.1.6 state_tracker.py load_training_state L280-295, trainer.py L3404-3405, L4593-4595, L4103-4110; "
   "4.10.1 trainer.py L5173, L5227-5228")
_FROZEN = ("SimpleTuner catches that error and logs \"Failed to get the last learning rate from the scheduler\" "
           "(trainer.py L4535-4551), so the rest of the run trains at the LR optimizer.bin holds: the schedule is frozen")
_EPOCH_STEP = ResumeValue("training_state.json", "epoch_step", (
    ("bool", "last_epoch = epoch_step × N takes it as 1 or 0: the LR goes back to the start of the schedule"),
    ("negative", "last_epoch = epoch_step × N is negative: ckptfix's Sine raises a ValueError (last_epoch must be >= "
                 f"-1) at every step, and {_FROZEN}; stock v2 stops moving (accelerate reads its negative total_steps "
                 "as a spent step budget)"),
    ("null", "last_epoch = None × N raises a TypeError right after load_state: the resume stops"),
    ("object", "last_epoch = {...} × N raises a TypeError right after load_state: the resume stops"),
    ("string", "last_epoch becomes a string (repeated N times) and every scheduler step raises (a TypeError in "
               f"SimpleTuner's v2 Sine, a ValueError in ckptfix's Sine); {_FROZEN}"),
    ("list", "last_epoch becomes a list (repeated N times) and every scheduler step raises (a TypeError in "
             f"SimpleTuner's v2 Sine, a ValueError in ckptfix's Sine); {_FROZEN}"),
    ("float", "last_epoch becomes a float: stock v2 runs it as the whole number, but ckptfix's Sine (the fixed "
              f"formula) raises a ValueError (last_epoch must be an int) at every step; {_FROZEN}"),
    ("fraction", "last_epoch becomes a fraction: stock v2 runs between its steps from then on (another LR at every "
                 f"step); ckptfix's Sine raises a ValueError at every step, and {_FROZEN}"),
    ("non-finite", "last_epoch becomes NaN or infinite and every scheduler step raises (SimpleTuner's v2 Sine: math "
                   "domain error, or cannot convert float NaN to integer; ckptfix's Sine: a ValueError); "
                   f"{_FROZEN}"),
), "3.1.6 trainer.py init_resume_checkpoint L3434-3437, state_tracker.py L280-295; custom_schedule.py Sine.step L417-427",
    "CKF119")
_MARKERS = frozenset({"training_state.json", "checkpoint_manifest.json", ".guard"})
_MANIFEST = "checkpoint_manifest.json"
#: Who saves, and the file that dates a checkpoint (checked in the wheels of 3.1.6, 4.0.1, 4.0.6, 4.9.2, 4.9.3,
#: 4.10.0 and 4.10.1: CheckpointManager.write_manifest is first called in 4.0.6).
_WRITERS = (
    WriterRules(VersionRange((1, 0), (4, 0, 6)), "main", (),
                "3.1.6 trainer.py _run_standard_checkpoint L3742-3743 (rank 0 saves); no checkpoint_manifest.json "
                "up to 4.0.1"),
    WriterRules(VersionRange((4, 0, 6), (4, 9, 3)), "main", (_MANIFEST,),
                "4.0.6 trainer.py L5163-5167 (rank 0 writes checkpoint_manifest.json); 4.9.2 trainer.py L5760-5761 "
                "(rank 0 saves), L6744-6749"),
    WriterRules(VersionRange((4, 9, 3), None), "all", (_MANIFEST,),
                "4.9.3 trainer.py L5759 (every rank saves); 4.10.1 trainer.py L5771, L6748-6752 (then rank 0 writes "
                "the manifest and .guard)"),
)
_PLAIN = re.compile(r"^checkpoint-\d+$")
#: StateTracker's default when training_state.json (or its global_step) is missing (state_tracker.py L280-295).
_STEP_IF_MISSING = 0
#: get_lr_scheduler (3.1.6 custom_schedule.py L467-542, 4.10.1 L482-557: the same routing): its own Sine, Cosine and
#: CosineAnnealingHardRestarts, its polynomial LambdaLR, diffusers' get_scheduler for the rest; warmup and total × N.
_FACTORY = "simpletuner_schedule"


def simpletuner_key(name: str) -> int | None:
    """``int(name.split("-")[1])`` as SimpleTuner computes it; None where that raises."""
    parts = name.split("-")
    if len(parts) < 2:
        return None
    try:
        return int(parts[1])
    except ValueError:
        return None


class SimpleTunerModel(TrainerModel):
    name = "simpletuner"
    title = "SimpleTuner"
    package = "simpletuner"
    markers = frozenset({"training_state.json", ".guard"})
    writers = _WRITERS
    rules = (
        TrainerRules("SimpleTuner", VersionRange((1, 0), (4, 9, 3)), "epoch_step", "main", _STEP, _V2, _READS,
                     "3.1.6 (wheel), 4.9.2 (wheel)",
                     ("3.1.6 trainer.py init_resume_checkpoint L3434-3437", "3.1.6 trainer.py _run_standard_checkpoint L3742-3743",
                      "4.9.2 trainer.py L5213-5216, L5760-5761"), (_GLOBAL_STEP, _EPOCH_STEP), _STEP_IF_MISSING,
                     factory=_FACTORY),
        TrainerRules("SimpleTuner", VersionRange((4, 9, 3), (4, 10, 0)), "epoch_step", "all", _STEP, _V2, _READS,
                     "4.9.3 (wheel)", ("4.9.3 trainer.py L5213-5216, L5759, L6688-6690",), (_GLOBAL_STEP, _EPOCH_STEP),
                     _STEP_IF_MISSING, factory=_FACTORY),
        TrainerRules("SimpleTuner", VersionRange((4, 10, 0), None), "global_step", "all", _STEP, _V2, _READS,
                     "4.10.0, 4.10.1 (wheels); later releases assumed unchanged",
                     ("4.10.1 trainer.py init_resume_checkpoint L5227-5228", "4.10.1 trainer.py L5771, L6700-6702"),
                     (_GLOBAL_STEP,), _STEP_IF_MISSING, factory=_FACTORY),
    )

    def detect(self, folder_name: str, names: frozenset[str], parent_name: str = "") -> bool:
        return bool(names & _MARKERS) or any(n.startswith("training_state-rank") and n.endswith(".json") for n in names)

    def is_checkpoint_name(self, name: str) -> bool:
        return checkpoint_number(name) is not None

    def claim(self, name: str) -> FolderClaim | None:
        """Every ``checkpoint*`` entry: ``checkpoint-N[-suffix]`` is read, any other is skipped."""
        if not name.startswith("checkpoint"):
            return None
        n = checkpoint_number(name)
        return FolderClaim(n) if n is not None else FolderClaim(None, "name is not checkpoint-<N>[-suffix]")

    def hint(self, names: Sequence[str]) -> str | None:
        """A ``checkpoint-N-<suffix>`` name (``-rolling``, ``-tmp``): only SimpleTuner writes them."""
        suffixed = next((n for n in sorted(names) if checkpoint_number(n) is not None and not _PLAIN.match(n)), None)
        return None if suffixed is None else f"detected from {suffixed} (a suffix only SimpleTuner writes)"

    def folder_step(self, name: str) -> int | None:
        return simpletuner_key(name) if name.startswith("checkpoint-") else None

    def latest(self, names: Sequence[str]) -> LatestPick:
        pool = [n for n in names if n.startswith("checkpoint") and not n.endswith("tmp")]
        chosen, broken = highest(pool, simpletuner_key)
        if broken:
            return LatestPick(chosen, False, "SimpleTuner sorts the checkpoint* entries by int(name.split('-')[1])",
                              broken,
                              "its latest rule raises on " + ", ".join(sorted(broken)) + ", returns None and the "
                              "trainer starts a new training run instead of resuming (checkpoint_manager.py L60-73, "
                              "trainer.py L3344-3356)")
        if len(chosen) > 1:
            return LatestPick(chosen, False, f"{' and '.join(chosen)} have the same step; SimpleTuner sorts by the "
                              "step with a stable sort, so os.listdir order (the filesystem's, not a rule) decides "
                              "which one it resumes: every one of them is checked", tie=True)
        if chosen:
            return LatestPick(chosen, True, "SimpleTuner resumes the highest step among checkpoint* entries not "
                              "ending in tmp")
        return LatestPick((), True, "no checkpoint* entry that does not end in tmp: SimpleTuner starts a new run")


SIMPLETUNER = SimpleTunerModel()
