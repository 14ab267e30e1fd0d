"""The diffusers example scripts (``examples/*/train_*.py``; docs/trainers.md, "diffusers example scripts").

Save: ``output_dir/checkpoint-{global_step}`` straight away on rank 0 (no ``-tmp`` first: a killed save
leaves a partial folder). Resume: ``--resume_from_checkpoint latest`` lists ``output_dir`` (files too),
keeps names starting with ``checkpoint``, sorts them by ``int(name.split("-")[1])`` and takes the last
(no ``tmp`` filter; a name where ``int()`` fails raises and the script stops); the step is the folder's
number; the scheduler is restored by ``load_state`` only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ckptfix.model.trainers.interface import LatestPick, TrainerModel, TrainerRules, VersionRange, highest
from ckptfix.model.trainers.simpletuner import simpletuner_key

__all__ = ["DIFFUSERS", "DiffusersModel"]

_NAME = re.compile(r"^checkpoint-\d+$")
_OTHER_TRAINERS = frozenset({"training_state.json", "train_state.json", "trainer_state.json"})


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
