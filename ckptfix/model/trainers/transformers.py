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

from ckptfix.model.trainers.interface import LatestPick, TrainerModel, TrainerRules, VersionRange, highest

__all__ = ["TRANSFORMERS", "TransformersModel"]

_NAME = re.compile(r"^checkpoint-(\d+)$")
_TORCH_FILES = ("scheduler.pt", "optimizer.pt")


def _number(name: str) -> int | None:
    m = _NAME.match(name)
    return int(m.group(1)) if m else None


class TransformersModel(TrainerModel):
    name = "transformers"
    title = "transformers Trainer"
    package = "transformers"
    rules = (
        TrainerRules("transformers Trainer", VersionRange(), "stored", "all", "trainer_state.json global_step", None,
                     (), "transformers trainer_utils.get_last_checkpoint, Trainer._save_rng_state",
                     ("src/transformers/trainer_utils.py get_last_checkpoint", "src/transformers/trainer.py _save_rng_state")),
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
                              "os.listdir order: every one of them is checked")
        return LatestPick(chosen, True, "the Trainer resumes the highest N among folders named exactly checkpoint-N")


TRANSFORMERS = TransformersModel()
