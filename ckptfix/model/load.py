"""Read one checkpoint folder into a ``Checkpoint``: list it once, pick its layout, let the layout read it.

Reads only metadata: the pickles of ``scheduler*.bin`` / ``optimizer*.bin`` (plus the few 0-d step
storages), trainer JSON, safetensors headers. Never imports torch, never runs pickle code.
"""

from __future__ import annotations

from typing import Any

from ckptfix.formats.limits import DEFAULT_LIMITS, Limits
from ckptfix.formats.source import LOCAL, Store
from ckptfix.model.checkpoint import Checkpoint, FileProblem
from ckptfix.model.layouts import Folder, Listing, detect_layout
from ckptfix.model.leftovers import TMP_MARKER, WORK_DIR, find_leftovers
from ckptfix.model.trainers import checkpoint_number, detect_trainer, get_trainer
from ckptfix.records import replace

__all__ = ["load_checkpoint"]


def load_checkpoint(path: Any, limits: Limits = DEFAULT_LIMITS, store: Store = LOCAL) -> Checkpoint:
    """Read the checkpoint folder at ``path``; a folder that cannot be listed is an unreadable finding."""
    path = store.path(path)
    try:
        listing = Listing.of(store, path)
    except OSError as exc:  # permission denied, or removed (a rolling checkpoint deleted) since discovery
        if store.kind(path) not in ("dir", None):  # a dangling symlink, a loop, a file a latest rule picked
            return Checkpoint(path, checkpoint_number(path.name), None, (), (), 0, not_a_folder=store.describe(path))
        problem = FileProblem(path, "unreadable", f"{path}: cannot list: {exc.strerror or exc}")
        return Checkpoint(path, checkpoint_number(path.name), None, (), (), 0, other_problems=(problem,))
    folder = Folder(store, path, listing)
    layout = detect_layout(folder)
    ck = layout.load(folder, limits)
    trainer = (get_trainer(layout.trainer) if layout.trainer is not None
               else detect_trainer(path.name, listing.names, path.parent.name))
    folder_step = trainer.folder_step(path.name)
    if folder_step is None:
        folder_step = ck.folder_step
    ck = replace(ck, trainer=trainer.name, folder_step=folder_step, link_target=store.link_target(path))
    beside = trainer.config_file(path.name)  # kohya: the run's metadata in the weights saved beside the state
    if beside is not None and ck.run_config is None:
        from ckptfix.model.run_config import read_config  # noqa: PLC0415 - 0.9 ms of imports only kohya's gate needs

        name, kind = beside
        ck = replace(ck, run_config=read_config(kind, path.parent / name, root=path.parent, limits=limits, store=store))
    if WORK_DIR in listing.names or any(TMP_MARKER in n for n in listing.names):  # else nothing to look for
        ck = replace(ck, repair_leftovers=find_leftovers(store, path))
    return ck
