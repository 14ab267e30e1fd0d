"""kohya-ss/sd-scripts (``train_network.py``): state folders and ``train_state.json`` (docs/trainers.md, "kohya").

Folder names (``library/train_util.py`` L90-98): ``<name>-step00000100-state`` (every N steps),
``<name>-000001-state`` (every N epochs), ``<name>-state`` (end of training). The save hook writes
``train_state.json`` ``{"current_epoch", "current_step"}`` (``train_network.py`` L930-948). Only rank 0
saves; the scheduler is restored by ``load_state`` and never touched; ``--resume`` loads the one folder
it names: there is no "latest".
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
)

__all__ = ["KOHYA", "KohyaModel", "STATE_NAME"]

#: ``<name>-step{:08d}-state``, ``<name>-{:06d}-state``, ``<name>-state``.
STATE_NAME = re.compile(r"^(?P<name>.+?)(?:-step(?P<step>\d{8})|-(?P<epoch>\d{6}))?-state$")
TRAIN_STATE = "train_state.json"
_CURRENT_STEP = ResumeValue(TRAIN_STATE, "current_step", (
    ("missing", "kohya's load hook reads data[\"current_step\"]: the resume stops with a KeyError"),
    ("null", "kohya ignores it (steps_from_state is None): the resumed run does not skip the steps already trained "
             "(--skip_until_initial_step) and counts its epochs from 0"),
    ("negative", "kohya ignores it (initial_step > 0 is false): the resumed run does not skip the steps already trained"),
    ("bool", "kohya computes with it as 1 or 0: the resumed run skips that many steps, not the ones already trained"),
    ("string", "the resume stops with a TypeError (initial_step > 0, train_network.py L1252)"),
    ("list", "the resume stops with a TypeError (initial_step > 0, train_network.py L1252)"),
    ("object", "the resume stops with a TypeError (initial_step > 0, train_network.py L1252)"),
    ("float", "epoch_to_start becomes a float and range() raises a TypeError: the resume stops (L1269-1272, L1401)"),
    ("fraction", "epoch_to_start becomes a float and range() raises a TypeError: the resume stops (L1269-1272, L1401)"),
    ("non-finite", "Infinity fails the assertion max_train_steps > initial_step (the resume stops); NaN is ignored "
                   "like null (nan > 0 is false)"),
    ("huge", "it fails the assertion max_train_steps > initial_step: the resume stops (L1252-1255)"),
), "train_network.py load_model_hook L962-969, L1232-1275, L1340-1344, L1358, L1401")


class KohyaModel(TrainerModel):
    name = "kohya"
    title = "kohya sd-scripts"
    picks_folders_only = True  # --resume names a folder
    markers = frozenset({TRAIN_STATE})
    naming = "kohya state folder names"
    rules = (
        TrainerRules("kohya sd-scripts", VersionRange(), "stored", "main",
                     "train_state.json current_step (skips batches only with --skip_until_initial_step; "
                     "otherwise global_step restarts at 0)", None,
                     (ResumeFile(TRAIN_STATE, False, "the resume starts at step 0 (steps_from_state stays None)",
                                 "kohya's load hook reads it with json.load(open(path, encoding=\"utf-8\")): a byte-order "
                                 "mark or UTF-16/32 raises (JSONDecodeError or UnicodeDecodeError) inside "
                                 "accelerator.load_state, and the resume stops"),),
                     "sd-scripts 48d368f",
                     ("train_network.py save_model_hook L930-948, load hook L950-968, L1232-1275",
                      "train_util.py resume_from_local_or_hf_if_specified L4772-4822"), (_CURRENT_STEP,)),
    )

    def detect(self, folder_name: str, names: frozenset[str], parent_name: str = "") -> bool:
        return TRAIN_STATE in names

    def is_checkpoint_name(self, name: str) -> bool:
        return STATE_NAME.match(name) is not None

    def claim(self, name: str) -> FolderClaim | None:
        """A ``<name>-state`` folder is read when it holds checkpoint files; such names are kohya's alone."""
        if not self.is_checkpoint_name(name):
            return None
        return FolderClaim(self.folder_step(name) or 0, "named like a kohya state folder but holds no checkpoint "
                           "files", confirm=True, decisive=True)

    def folder_step(self, name: str) -> int | None:
        m = STATE_NAME.match(name)
        return int(m.group("step")) if m and m.group("step") else None

    def latest(self, names: Sequence[str]) -> LatestPick:
        states = tuple(sorted(n for n in names if self.is_checkpoint_name(n)))
        return LatestPick(states, False, "kohya sd-scripts has no 'latest': --resume loads the one folder you name, "
                          "so every state folder is checked (give the folder you resume to check only it)")


KOHYA = KohyaModel()
