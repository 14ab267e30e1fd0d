"""The layout interface: how one kind of trainer lays out a checkpoint folder, and how to read it.

A ``Layout`` says whether a folder is its kind (``detect``, cheap: the folder's listing, at most a
small file) and reads it into a ``Checkpoint`` (``load``: metadata only, never torch, never pickle
code). Layouts are tried in the registry's order (``ckptfix.model.layouts.LAYOUTS``); the accelerate
layout, which claims every folder, comes last.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from ckptfix.formats.limits import Limits
from ckptfix.formats.source import Store
from ckptfix.model.checkpoint import Checkpoint
from ckptfix.records import Record

__all__ = ["Folder", "Layout", "Listing"]


class Listing(Record):
    """One directory listing of a checkpoint folder, shared by every layout's ``detect``."""

    names: frozenset[str]
    dirs: frozenset[str]

    @classmethod
    def of(cls, store: Store, folder: Any) -> Listing:
        """List ``folder`` once; ``OSError`` when it cannot be listed."""
        entries = store.list(folder)
        return cls(frozenset(e.name for e in entries), frozenset(e.name for e in entries if e.is_dir))


class Folder(Record):
    """One checkpoint folder as layouts see it: where it is, how to read it, and its listing."""

    store: Store
    path: Any
    listing: Listing

    def sorted_names(self) -> list[str]:
        return sorted(self.listing.names)


class Layout(ABC):
    """A trainer's checkpoint layout."""

    #: Reported as ``Checkpoint.layout`` (``accelerate``, ``hf-trainer``, ``deepspeed``, ``fsdp``).
    name: ClassVar[str]
    #: The trainer family that writes it, before finer detection (``accelerate``, ``transformers``).
    trainer: ClassVar[str]

    @abstractmethod
    def detect(self, folder: Folder) -> bool:
        """Whether ``folder`` has this layout."""

    @abstractmethod
    def load(self, folder: Folder, limits: Limits) -> Checkpoint:
        """Read ``folder``; unreadable files become ``FileProblem``s in the result, never exceptions."""
