"""The diffusers example scripts (``examples/*/train_*.py``; docs/trainers.md, "diffusers example scripts").

Save: ``output_dir/checkpoint-{global_step}`` straight away on rank 0 (no ``-tmp`` first: a killed save
leaves a partial folder). Resume: ``--resume_from_checkpoint latest`` lists ``output_dir`` (files too),
keeps names starting with ``checkpoint``, sorts them by ``int(name.split("-")[1])`` and takes the last
(no ``tmp`` filter; a name where ``int()`` fails raises and the script stops); the step is the folder's
number; the scheduler is restored by ``load_state`` only. Loop: ``first_epoch = global_step //
num_update_steps_per_epoch``, that epoch from its first batch (no batch skipped), and ``break`` at
``max_train_steps`` leaves only the inner loop: after a resume from the middle of an epoch, every later epoch
takes one more step (``resume_count``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ckptfix.model.trainers.interface import (
    LatestPick,
    ResumeCount,
    TrainerModel,
    TrainerRules,
    VersionRange,
    highest,
)
from ckptfix.model.trainers.simpletuner import simpletuner_key

__all__ = ["DIFFUSERS", "DiffusersModel"]

_NAME = re.compile(r"^checkpoint-\d+$")
_OTHER_TRAINERS = frozenset({"training_state.json", "train_state.json", "trainer_state.json"})
_T2I = "diffusers 58eb52c examples/text_to_image/train_text_to_image_lora.py"


class DiffusersModel(TrainerModel):
    name = "diffusers"
    title = "diffusers example scripts"
    fallback = True
    evidence = "checkpoint-N without a trainer state file"
    rules = (
        TrainerRules("diffusers scripts", VersionRange(), "stored", "main", "folder name (int(path.split('-')[1]))",
                     None, (), "diffusers 58eb52c",
                     ("examples/text_to_image/train_text_to_image_lora.py L826-848, L943-968",
                      "examples/dreambooth/train_dreambooth_lora.py L1211-1233, L1343-1367"),
                     factory="diffusers_scripts_schedule"),
    )

    def detect(self, folder_name: str, names: frozenset[str], parent_name: str = "") -> bool:
        return _NAME.match(folder_name) is not None and not (names & _OTHER_TRAINERS)

    def is_checkpoint_name(self, name: str) -> bool:
        return _NAME.match(name) is not None

    def resume_count(self, step: int, epoch: int | None, folder_name: str, config: Mapping[str, Any],
                     choice: bool) -> ResumeCount | None:
        """The scripts' loop from ``global_step`` = ``step``, with the resuming launch's ``max_train_steps`` and
        optimizer steps per epoch (``steps_per_epoch``; no checkpoint file holds either): None without them."""
        total, per_epoch = config.get("max_steps"), config.get("steps_per_epoch")
        if not (_count(total) and _count(per_epoch)) or not 0 < step < total:
            return None
        epochs = -(-total // per_epoch)  # num_train_epochs = ceil(max_train_steps / num_update_steps_per_epoch)
        first = step // per_epoch
        reached = first + (total - step - 1) // per_epoch  # the epoch whose step reaches max_train_steps
        extra = epochs - 1 - reached  # one step in each later epoch before its break
        remaining = total - step
        how = (f"the scripts' loop starts epoch {first + 1} of {epochs} ({step} // {per_epoch} steps per epoch) from "
               f"its first batch, reaches max_train_steps {total} in epoch {reached + 1} and breaks out of that "
               f"epoch only, so each later epoch takes one more step ({_T2I} L795, L805, L826-850, L860, L973-974): "
               f"{remaining + extra} steps where {remaining} remain")
        if extra:
            how += f" (the last {extra} past the schedule's end)"
        return ResumeCount(choice, remaining + extra, remaining, extra == 0, how)

    def folder_step(self, name: str) -> int | None:
        return simpletuner_key(name) if name.startswith("checkpoint-") else None

    def latest(self, names: Sequence[str]) -> LatestPick:
        chosen, broken = highest([n for n in names if n.startswith("checkpoint")], simpletuner_key)
        if broken:
            return LatestPick(chosen, False, "the diffusers scripts sort checkpoint* entries by int(name.split('-')[1])",
                              broken, "int() raises on " + ", ".join(broken) + " and the script stops before "
                              "resuming (train_text_to_image_lora.py L826-834)")
        if len(chosen) > 1:
            return LatestPick(chosen, False, f"{' and '.join(chosen)} have the same step; the scripts sort with a "
                              "stable sort, so os.listdir order decides: every one of them is checked", tie=True)
        return LatestPick(chosen, True, "the diffusers scripts resume the highest step among checkpoint* entries "
                          "(they do not skip -tmp names)")


DIFFUSERS = DiffusersModel()


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0
