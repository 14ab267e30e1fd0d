"""Checkpoint layouts: which trainer wrote a folder, and how to read it into a ``Checkpoint``.

One module per layout, each with ``detect(folder) -> bool`` and ``load(folder, limits) -> Checkpoint``.
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

import importlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from ckptfix.model.layouts.detect import Listing, is_deepspeed, is_fsdp, is_hf_trainer

# (predicate, loader module): loaders are imported only for the layout a folder has.
LAYOUTS: tuple[tuple[Callable[[Path, Listing], bool], str], ...] = (
    (is_hf_trainer, "hf_trainer"),
    (is_deepspeed, "deepspeed"),
    (is_fsdp, "fsdp"),
)
NAMES = ("accelerate", "hf-trainer", "deepspeed", "fsdp")


def detect_layout(folder: Path, listing: Listing | None = None) -> ModuleType | None:
    """The layout module for ``folder``; None means the default accelerate layout."""
    folder = Path(folder)
    if listing is None:
        try:
            listing = Listing.of(folder)  # listed once for all predicates
        except OSError:  # not a folder, or unlistable: reported by the accelerate loader
            return None
    for predicate, module in LAYOUTS:
        try:
            if predicate(folder, listing):
                return importlib.import_module(f"ckptfix.model.layouts.{module}")
        except OSError:  # an unlistable folder is reported by the accelerate loader
            return None
    return None


def layout_name(folder: Path) -> str:
    mod = detect_layout(folder)
    return mod.NAME if mod is not None else "accelerate"
