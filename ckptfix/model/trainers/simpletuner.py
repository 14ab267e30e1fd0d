"""SimpleTuner (bghira/SimpleTuner): three version ranges of its resume (docs/trainers.md, "SimpleTuner").

=====================  ===========================================  ==================  ==============
releases               ``last_epoch`` after ``load_state``          ranks that save     formula
=====================  ===========================================  ==================  ==============
1.0 to < 4.9.3         ``training_state.json`` ``epoch_step`` × N   rank 0 only         v2 sine
4.9.3 to < 4.10.0      ``epoch_step`` × N                           every rank          v2 sine
>= 4.10.0              ``global_step`` × N (``global_resume_step``) every rank          v2 sine
=====================  ===========================================  ==================  ==============

N is the *resuming* process count. The step is ``training_state.json`` ``global_step`` in every range.
"Latest" (``CheckpointManager.get_latest_checkpoint``): every ``os.listdir`` entry (files too) whose name
starts with ``checkpoint`` and does not end in ``tmp``, sorted by ``int(name.split("-")[1])``, the last one;
an entry where that ``int()`` fails makes it return None, and the trainer starts a new run.
"""

from __future__ import annotations

from collections.abc import Sequence

from ckptfix.model.trainers.interface import LatestPick, ResumeFile, TrainerModel, TrainerRules, VersionRange, highest

__all__ = ["SIMPLETUNER", "SimpleTunerModel", "simpletuner_key"]

_V2 = "simpletuner-sine-v2"
_STEP = "training_state.json global_step (0 when the file is missing)"
_READS = (
    ResumeFile("training_state.json", False, "the resume takes global_step 0 and epoch_step 0: the run restarts its "
               "step count (and, with the override, its LR position) at 0"),
)
_MARKERS = frozenset({"training_state.json", "checkpoint_manifest.json", ".guard"})


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
    rules = (
        TrainerRules("SimpleTuner", VersionRange((1, 0), (4, 9, 3)), "epoch_step", "main", _STEP, _V2, _READS,
                     "3.1.6 (wheel), 4.9.2 (wheel)",
                     ("3.1.6 trainer.py init_resume_checkpoint L3434-3437", "3.1.6 trainer.py _run_standard_checkpoint L3742-3743",
                      "4.9.2 trainer.py L5213-5216, L5760-5761")),
        TrainerRules("SimpleTuner", VersionRange((4, 9, 3), (4, 10, 0)), "epoch_step", "all", _STEP, _V2, _READS,
                     "4.9.3 (wheel)", ("4.9.3 trainer.py L5213-5216, L5759, L6688-6690",)),
        TrainerRules("SimpleTuner", VersionRange((4, 10, 0), None), "global_step", "all", _STEP, _V2, _READS,
                     "4.10.0, 4.10.1 (wheels); later releases assumed unchanged",
                     ("4.10.1 trainer.py init_resume_checkpoint L5227-5228", "4.10.1 trainer.py L5771, L6700-6702")),
    )

    def detect(self, folder_name: str, names: frozenset[str], parent_name: str = "") -> bool:
        return bool(names & _MARKERS) or any(n.startswith("training_state-rank") and n.endswith(".json") for n in names)

    def is_checkpoint_name(self, name: str) -> bool:
        return name.startswith("checkpoint") and simpletuner_key(name) is not None

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
                              "which one it resumes: every one of them is checked")
        if chosen:
            return LatestPick(chosen, True, "SimpleTuner resumes the highest step among checkpoint* entries not "
                              "ending in tmp")
        return LatestPick((), True, "no checkpoint* entry that does not end in tmp: SimpleTuner starts a new run")


SIMPLETUNER = SimpleTunerModel()
