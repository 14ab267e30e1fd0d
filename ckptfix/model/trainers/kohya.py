"""kohya-ss/sd-scripts (``train_network.py``): state folders and ``train_state.json`` (docs/trainers.md, "kohya").

Folder names (``library/train_util.py`` L90-98): ``<name>-step00000100-state`` (every N steps),
``<name>-000001-state`` (every N epochs), ``<name>-state`` (end of training). The save hook writes
``train_state.json`` ``{"current_epoch", "current_step"}`` (``train_network.py`` L930-948). Only rank 0
saves; the scheduler is restored by ``load_state`` and never touched; ``--resume`` loads the one folder
it names: there is no "latest".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ckptfix.model.trainers.interface import (
    FolderClaim,
    LatestPick,
    LaunchFlag,
    ResumeCount,
    ResumeFile,
    ResumeValue,
    TrainerModel,
    TrainerRules,
    VersionRange,
)

__all__ = ["KOHYA", "KohyaModel", "SKIP_FLAG", "STATE_NAME", "count_resumed_steps", "kohya_weights_name"]

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


#: ``--skip_until_initial_step`` (train_network.py L1257-1273): not given by default.
SKIP_FLAG = LaunchFlag("skip_until_initial_step", "--skip_until_initial_step", False, "--skip-until-initial-step",
                       "--no-skip-until-initial-step")
_TN = "sd-scripts 48d368f train_network.py"


def kohya_weights_name(state_folder: str) -> str | None:
    """The ``.safetensors`` sd-scripts saves beside a ``-state`` folder: ``<name>-step00000100-state`` ->
    ``<name>-step00000100.safetensors`` (``library/train_util.py`` L90-99: every state name is its weights
    file's name + ``-state``). None for a folder not named so. (``--save_model_as`` other than safetensors keeps
    no metadata.)"""
    if not state_folder.endswith("-state") or len(state_folder) <= len("-state"):
        return None
    return state_folder[: -len("-state")] + ".safetensors"


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def count_resumed_steps(step: int, max_steps: int, batches: int, accumulation: int,
                        skip: bool) -> tuple[int, int, int, int]:
    """(global_step when the loop starts, the epoch it starts in (0-based), batches skipped in it, optimizer steps
    the resumed run takes) of ``train_network.py``'s loop resumed from ``current_step`` = ``step``, with
    ``max_train_steps``, ``batches`` per epoch per process (``len(train_dataloader)``, ``ss_num_batches_per_epoch``)
    and ``gradient_accumulation_steps``, launched with ``--skip_until_initial_step`` or not.

    The loop (sd-scripts 48d368f): ``epoch_to_start = initial_step // ceil(batches / accumulation)`` (L1269, L1272);
    without the flag ``initial_step = 0`` and ``global_step = 0`` (L1273-1275); with it ``initial_step`` is counted in
    micro-batches (``× accumulation``, L1266) and each epoch before ``epoch_to_start`` takes ``batches`` off it,
    ``global_step = initial_step`` (L1340-1344), and that many batches are skipped in the first epoch (L1410-1419).
    Each epoch then takes an optimizer step per ``accumulation`` batches (``ceil(batches / accumulation)`` a full
    epoch) until ``global_step >= max_train_steps`` (L1605-1606), for ``ceil(max_train_steps / ceil(batches /
    accumulation))`` epochs (L978-979). The ``break`` leaves the epoch only, but the epochs are counted so that
    ``max_train_steps`` is reached in the last one or not at all (a first epoch that skips many micro-batches under
    accumulation could reach it earlier; the later epochs' first batches are then not counted). Checked against
    216 resumes of the replicated loop under real accelerate (fixtures/resumes/kohya_counts.json)."""
    per_epoch = max(1, _ceil_div(batches, accumulation))
    epochs = _ceil_div(max_steps, per_epoch)
    if skip:
        initial = step * accumulation
        first = initial // per_epoch
        start = initial - first * batches
        skipped = max(start, 0)
    else:
        first, start, skipped = step // per_epoch, 0, 0
    if first >= epochs:
        return start, first, skipped, 0
    g = start
    k = _ceil_div(max(batches - skipped, 0), accumulation)
    k = min(k, max_steps - g) if g < max_steps else (1 if accumulation == 1 and batches > skipped else 0)
    g, takes, left = g + k, k, epochs - first - 1
    if left and g < max_steps:
        full = min(left, (max_steps - g) // per_epoch)
        g, takes, left = g + full * per_epoch, takes + full * per_epoch, left - full
        if left and g < max_steps:
            k = max_steps - g
            g, takes, left = g + k, takes + k, left - 1
    return start, first, skipped, takes


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
                      "train_util.py resume_from_local_or_hf_if_specified L4772-4822"), (_CURRENT_STEP,),
                     factory="kohya_schedule"),
    )

    launch_flag = SKIP_FLAG

    def detect(self, folder_name: str, names: frozenset[str], parent_name: str = "") -> bool:
        return TRAIN_STATE in names

    def config_file(self, folder_name: str) -> tuple[str, str] | None:
        """The network's ``.safetensors`` beside the state folder: its header holds the training metadata
        (``ss_max_train_steps``, ``ss_num_batches_per_epoch``, ``ss_gradient_accumulation_steps``: L1003-1065)."""
        name = kohya_weights_name(folder_name)
        return (name, "safetensors-metadata") if name else None

    def resume_count(self, step: int, epoch: int | None, folder_name: str, config: Mapping[str, Any],
                     choice: bool) -> ResumeCount | None:
        """What ``train_network.py``'s loop does with ``current_step`` (``count_resumed_steps``); with the run's
        metadata the count is exact, without it what is known (the resume takes at least the steps that remain)."""
        if step <= 0:
            return None  # initial_step 0: nothing is skipped or counted again
        flag = "With --skip_until_initial_step" if choice else "Without --skip_until_initial_step (kohya's default)"
        total, batches = _int(config.get("max_steps")), _int(config.get("num_batches_per_epoch"))
        accumulation = _int(config.get("gradient_accumulation_steps")) or 1
        if total is not None and total <= step:
            return ResumeCount(choice, None, 0, False, f"{flag}, kohya asserts max_train_steps {total} > the stored "
                               f"step {step} ({_TN} L1252-1255)", raises="AssertionError")
        if total is None or batches is None:
            what = ("current_epoch " + str(epoch) + ", " if epoch is not None else "") + f"current_step {step}"
            rule = (f"the resumed run skips the epochs before step {step} and counts from global_step = current_step "
                    f"- epochs done × batches per epoch ({_TN} L1340-1344)" if choice else
                    f"the resumed run counts from global_step 0 again, from the epoch the step falls in ({_TN} "
                    "L1270-1275)")
            return ResumeCount(choice, None, None, None,
                               f"{flag}, {rule}: it takes at least the steps that remain, and more unless "
                               + ("max_train_steps is a whole number of epochs" if choice else
                                  "the state is at the end of an epoch and max_train_steps a whole number of epochs")
                               + f"; the batches per epoch and max_train_steps are not known here ({what}: "
                               f"{kohya_weights_name(folder_name) or 'the network .safetensors'} beside the state "
                               "folder holds them in its metadata, unless saved with --no_metadata)")
        start, first, skipped, takes = count_resumed_steps(step, total, batches, accumulation, choice)
        remaining = total - step
        per_epoch = max(1, _ceil_div(batches, accumulation))
        if choice:
            how = (f"{flag}, the resumed run starts at epoch {first + 1} and counts from global_step {step}"
                   + (f" × {accumulation}" if accumulation != 1 else "") + (f" - {first} × {batches} batches" if first else "")
                   + (f" = {start}" if first or accumulation != 1 else "")
                   + (f", skipping {skipped} batches" if skipped else ", skipping none")
                   + f" ({_TN} L1257-1269, L1340-1344)")
        else:
            how = (f"{flag}, the resumed run counts from global_step 0 again, from epoch {first + 1} ({step} // {per_epoch} steps per "
                   f"epoch; {_TN} L1270-1275)")
        how += (f", until global_step reaches max_train_steps {total} or its epochs end: {takes} steps where "
                f"{remaining} remain")
        if takes > remaining:
            how += f" (the last {takes - remaining} past the schedule's end)"
        return ResumeCount(choice, takes, remaining, takes == remaining, how, start=start)

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


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None
