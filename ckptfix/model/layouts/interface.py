"""The layout interface: how one kind of trainer lays out a checkpoint folder, and how to read it.

A ``Layout`` says whether a folder is its kind (``detect``, cheap: the folder's listing, at most a
small file) and reads it into a ``Checkpoint`` (``load``: metadata only, never torch, never pickle
code). Layouts are tried in the registry's order (``ckptfix.model.layouts.LAYOUTS``); the accelerate
layout, which claims every folder, comes last. What differs per layout beyond reading (which trainer
writes it, what its per-rank files count, whether repair rewrites its scheduler, what its resume loads)
is declared here, as class attributes the analysis, repair and reports read through
``ckptfix.model.layouts.get_layout`` (never by comparing a layout's name).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from ckptfix.formats.limits import Limits
from ckptfix.formats.source import Store
from ckptfix.model.checkpoint import Checkpoint
from ckptfix.model.resume_files import ResumeFiles
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
    #: The trainer that writes it when only one does (``transformers``); None: the trainer is detected from the
    #: folder (accelerate's ``save_state`` is every other trainer's).
    trainer: ClassVar[str | None] = None
    #: Reports name the layout (False: the default one, said in ``--json`` only).
    shown: ClassVar[bool] = True
    #: Its per-rank files are one per process whatever the trainer's release: how a report names that evidence
    #: of N (the Trainer's ``rng_state_{rank}.pth``); None: the trainer's rules say what the files count.
    rank_files_exact: ClassVar[str | None] = None
    #: Its scheduler's position is the trainer's resume position N × step, previewed under the trainer's rules
    #: (False: the trainer steps its scheduler its own way, judged by ``analysis/trainer_checks.py``).
    previews_resume: ClassVar[bool] = True
    #: Why repair leaves a checkpoint of this layout with errors untouched (None: it repairs them).
    repair_refusal: ClassVar[str | None] = None
    #: What the resume loads from a folder of this layout (CKF004), None when ckptfix does not know.
    resume_files: ClassVar[ResumeFiles | None] = None

    @abstractmethod
    def detect(self, folder: Folder) -> bool:
        """Whether ``folder`` has this layout."""

    @abstractmethod
    def load(self, folder: Folder, limits: Limits) -> Checkpoint:
        """Read ``folder``; unreadable files become ``FileProblem``s in the result, never exceptions."""
