"""Plain accelerate (``Accelerator.save_state`` / ``load_state``), including automatic checkpoint naming
(docs/trainers.md, "Plain accelerate").

With ``ProjectConfiguration(automatic_checkpoint_naming=True)``, ``save_state()`` writes
``<project_dir>/checkpoints/checkpoint_<i>``, ``i`` counting saves (not steps); ``load_state()`` without
an argument lists ``<project_dir>/checkpoints`` (files too), sorts the entries by the first number in each
name and loads the last (a name without a digit raises). accelerate restores no step of its own; the
scheduler is ``scheduler.bin`` as saved.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ckptfix.model.trainers.interface import FolderClaim, LatestPick, TrainerModel, TrainerRules, VersionRange, highest

__all__ = ["ACCELERATE", "AUTO_DIR", "AUTO_NAME", "AccelerateModel", "auto_index"]

AUTO_DIR = "checkpoints"
AUTO_NAME = re.compile(r"^checkpoint_(\d+)$")
_FIRST_NUMBER = re.compile(r"([0-9]+)")


def auto_index(name: str) -> int | None:
    """The number ``load_state()`` sorts by: the first run of digits in the name (accelerator.py L3735-3745)."""
    m = _FIRST_NUMBER.search(name)
    return int(m.group(1)) if m else None


class AccelerateModel(TrainerModel):
    name = "accelerate"
    title = "accelerate"
    markers = frozenset({"scheduler.bin", "optimizer.bin", "random_states_0.pkl"})  # what save_state writes
    container = AUTO_DIR
    naming = "checkpoints/checkpoint_<i> folders"
    fallback = True
    rules = (
        TrainerRules("accelerate", VersionRange(), "stored", "main",
                     "none of its own (the save counter is not restored): the optimizer's step count", None, (),
                     "accelerate 1.16.0",
                     ("accelerator.py save_state L3568-3593, load_state L3735-3745",
                      "checkpointing.py save_accelerator_state L52-168")),
    )

    def detect(self, folder_name: str, names: frozenset[str], parent_name: str = "") -> bool:
        return True  # the default: tried last

    def is_checkpoint_name(self, name: str) -> bool:
        return AUTO_NAME.match(name) is not None

    def claim(self, name: str) -> FolderClaim | None:
        """Every ``checkpoint*`` entry of ``checkpoints/``: ``checkpoint_<i>`` is read, any other is skipped."""
        if not name.startswith("checkpoint"):
            return None
        m = AUTO_NAME.match(name)
        return FolderClaim(int(m.group(1))) if m else FolderClaim(None, "name is not checkpoint_<i> (accelerate's "
                                                                         "automatic naming)")

    def latest(self, names: Sequence[str]) -> LatestPick:
        chosen, broken = highest(list(names), auto_index)
        if broken:
            return LatestPick(chosen, False, "accelerate's load_state() sorts the entries of checkpoints/ by their "
                              "first number", broken, "a name without a digit (" + ", ".join(broken) + ") makes "
                              "load_state() raise IndexError before it loads anything (accelerator.py L3735-3745)")
        if len(chosen) > 1:
            return LatestPick(chosen, False, f"{' and '.join(chosen)} carry the same number; load_state() sorts with "
                              "a stable sort, so os.listdir order decides: every one of them is checked", tie=True)
        return LatestPick(chosen, True, "accelerate's load_state() loads the highest-numbered entry of checkpoints/ "
                          "(numerically: checkpoint_10 after checkpoint_2)")


ACCELERATE = AccelerateModel()
