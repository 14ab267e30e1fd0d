"""accelerate's ``save_state`` layout (SimpleTuner, the diffusers scripts, kohya): the default.

``scheduler*.bin`` and ``optimizer*.bin`` (torch files of the state dicts), ``random_states_{rank}.pkl``
(one per process that saved), SimpleTuner's ``training_state.json`` (the step), safetensors weights,
and the safety scan of every other pickle the resume loads.
"""

from __future__ import annotations

from ckptfix.formats.limits import Limits
from ckptfix.model.checkpoint import Checkpoint
from ckptfix.model.layouts.interface import Folder, Layout
from ckptfix.model.readers import (
    KOHYA_STATE,
    NOT_WALKED,
    OPTIMIZER_FILE,
    RNG_FILE,
    SCHEDULER_FILE,
    file_index,
    read_optimizer,
    read_rank_states,
    read_scheduler,
    read_train_state,
    read_training_state,
    read_weights,
    rng_ranks,
    scan_other_pickles,
)
from ckptfix.model.resume_files import ACCELERATE_LOAD_STATE
from ckptfix.model.trainers import checkpoint_number

__all__ = ["AccelerateLayout", "load_accelerate"]


def load_accelerate(folder: Folder, limits: Limits) -> Checkpoint:
    """The files accelerate's ``save_state`` writes (and SimpleTuner's additions), from one listing."""
    store, path = folder.store, folder.path
    names = folder.sorted_names()
    bytes_read = 0
    schedulers = []
    for name in sorted((n for n in names if SCHEDULER_FILE.match(n)), key=file_index):
        sf, n = read_scheduler(path / name, root=path, limits=limits, store=store)
        schedulers.append(sf)
        bytes_read += n
    optimizers = []
    for name in sorted((n for n in names if OPTIMIZER_FILE.match(n)), key=file_index):
        of = read_optimizer(path / name, root=path, limits=limits, store=store)
        optimizers.append(of)
        bytes_read += of.bytes_read
    ts = (read_training_state(path / "training_state.json", root=path, limits=limits, store=store)
          if "training_state.json" in names else
          read_train_state(path / KOHYA_STATE, root=path, limits=limits, store=store) if KOHYA_STATE in names else None)
    below = store.walk(path, skip=NOT_WALKED)
    weights = read_weights(path, limits=limits, store=store, dirs=folder.listing.dirs, below=below)
    others, n = scan_other_pickles(path, names, limits=limits, store=store)
    bytes_read += n
    return Checkpoint(
        path=path,
        folder_step=checkpoint_number(path.name),
        training_state=ts,
        optimizers=tuple(optimizers),
        schedulers=tuple(schedulers),
        num_processes=sum(1 for n in names if RNG_FILE.match(n)),
        rng_ranks=rng_ranks(names),
        rank_states=read_rank_states(path, names, limits=limits, store=store),
        weights=weights,
        has_guard=".guard" in names,
        has_manifest="checkpoint_manifest.json" in names,
        other_problems=others,
        bytes_read=bytes_read,
        files=tuple(str(p)[len(str(path)) + 1:].replace("\\", "/") for p, _entry in below),
    )


class AccelerateLayout(Layout):
    name = "accelerate"
    shown = False  # the default
    resume_files = ACCELERATE_LOAD_STATE

    def detect(self, folder: Folder) -> bool:
        return True  # the default: tried last, claims what no other layout does

    def load(self, folder: Folder, limits: Limits) -> Checkpoint:
        return load_accelerate(folder, limits)
