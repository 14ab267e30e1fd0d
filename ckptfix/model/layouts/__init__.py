"""Checkpoint layouts: which trainer wrote a folder, and how to read it into a ``Checkpoint``.

One module per layout, each a ``Layout`` (``interface.py``): ``detect(folder)`` and ``load(folder, limits)``.
Every loader reads metadata only (pickles, JSON, zip directories, a few 0-d step storages) and never
imports torch or runs pickle code.

========================  =================================================================
layout                    recognised by
========================  =================================================================
``hf-trainer``            ``trainer_state.json``, or ``scheduler.pt`` / ``optimizer.pt`` without
                          accelerate's ``*.bin``
``deepspeed``             a DeepSpeed tag folder: ``latest`` naming a sub-folder, or a sub-folder
                          holding ``mp_rank_*_model_states.pt``
``fsdp``                  a DCP folder (``optimizer_*/.metadata`` or ``pytorch_model_fsdp_*/.metadata``)
``accelerate``            everything else (the default: ``scheduler*.bin``, ``optimizer*.bin``)
========================  =================================================================

The order matters: a Hugging Face Trainer run with DeepSpeed is ``hf-trainer`` (its loader attaches
the DeepSpeed engine state too); accelerate + DeepSpeed before accelerate + FSDP.
"""

from __future__ import annotations

from typing import Any

from ckptfix.formats.source import LOCAL, Store
from ckptfix.model.layouts.accelerate import AccelerateLayout
from ckptfix.model.layouts.deepspeed import DeepSpeedLayout
from ckptfix.model.layouts.fsdp import FsdpLayout
from ckptfix.model.layouts.hf_trainer import HfTrainerLayout
from ckptfix.model.layouts.interface import Folder, Layout, Listing

__all__ = ["LAYOUTS", "NAMES", "Folder", "Layout", "Listing", "detect_layout", "get_layout", "layout_of"]

#: Tried in this order; the accelerate layout claims every folder, so it comes last.
LAYOUTS: tuple[Layout, ...] = (HfTrainerLayout(), DeepSpeedLayout(), FsdpLayout(), AccelerateLayout())
NAMES = tuple(sorted(layout.name for layout in LAYOUTS))


def get_layout(name: str) -> Layout:
    """The layout called ``name`` (``Checkpoint.layout``); ``KeyError`` otherwise."""
    for layout in LAYOUTS:
        if layout.name == name:
            return layout
    raise KeyError(name)


def detect_layout(folder: Folder) -> Layout:
    """The first layout that claims ``folder``; a folder that cannot be inspected is accelerate's (whose
    loader reports what cannot be read)."""
    for layout in LAYOUTS:
        try:
            if layout.detect(folder):
                return layout
        except OSError:
            break
    return LAYOUTS[-1]


def layout_of(path: Any, store: Store = LOCAL) -> Layout:
    """The layout of the checkpoint folder at ``path`` (listing it once)."""
    path = store.path(path)
    try:
        return detect_layout(Folder(store, path, Listing.of(store, path)))
    except OSError:
        return LAYOUTS[-1]
