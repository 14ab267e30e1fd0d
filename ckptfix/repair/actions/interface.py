"""The repair-action interface: one planned change to one file, and how to carry it out safely.

``apply.py`` runs every action of a plan through the same stages, under one lock, with one journal:

``recheck``  the file still holds what the plan was computed from (no other writer in between);
``backup``   keep, in the checkpoint's ``.ckptfix/backup-<UTC>/``, what ``undo`` needs (a byte-identical
             copy, or a patch record for a file too large to copy); returns its manifest entry;
``write``    write the new file beside the old one, fsync, and ``os.replace`` it onto the real name
             (calling the fault hook with ``"replace"`` just before, and recording the path in the
             journal from then on);
``verify``   the new file decodes, with ckptfix's reader and torch's, to exactly what was planned;
``undo``     after a failure: the original back, bit for bit (checked against its SHA-256).

Actions are plan data (immutable); what happens while applying lives in the ``Journal``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from ckptfix.records import Record
from ckptfix.repair.durable import ANY, FileId, identity

__all__ = ["ABSENT", "ActionKind", "Change", "Fault", "Journal", "RepairAction", "apply_changes", "same"]

#: A test hook called at each stage with the stage's name and the file (faults and kills are injected here).
Fault = Callable[[str, Path], None]


class _Absent:
    """Marks a key that is not in the state (``old``) or is removed (``new``)."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(absent)"

    def __reduce__(self) -> str:
        return "ABSENT"


ABSENT = _Absent()


class Change(Record):
    """One value a repair changes: in which file, under which key, from what to what, fixing which findings."""

    file: Path
    key: str
    old: Any  # ABSENT when the key is not in the state
    new: Any  # ABSENT when the key is dropped
    fixes: tuple[str, ...] = ()


def same(a: Any, b: Any) -> bool:
    """Exact equality including types (``0 != 0.0``, ``[1] != (1,)``); a NaN equals a NaN (a state that
    holds one is still the same state: a recheck must not fail on it forever)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def apply_changes(state: dict[str, Any], changes: tuple[Change, ...] | list[Change]) -> dict[str, Any]:
    """A new dict of ``state``'s type (an ``OrderedDict`` stays one): ``state`` with the changes applied; key
    order kept, new keys appended."""
    out = state.copy()
    for c in changes:
        if c.new is ABSENT:
            out.pop(c.key, None)
        else:
            out[c.key] = c.new
    return out


class Journal:
    """What applying a plan has done so far, so that ``undo`` knows what to put back."""

    def __init__(self, checkpoint: Path) -> None:
        self.checkpoint = checkpoint
        self.backup_dir: Path | None = None
        self.originals: dict[Path, str] = {}  # path -> SHA-256 of the original (files that existed)
        self.replaced: list[Path] = []  # files os.replace may have changed, in order
        self.temps: list[Path] = []  # temporary files not yet renamed or removed
        self.records: dict[Path, dict[str, Any]] = {}  # manifest entry of each action, by file
        # identities (durable.identity): of each file when recheck confirmed it (None: absent), and of
        # each file ckptfix put in place; another process's version is detected and never overwritten
        self.checked: dict[Path, FileId | None] = {}
        self.written: dict[Path, FileId | None] = {}

    def expected(self, path: Path) -> object:
        """What ``path`` must still be right before it is replaced (``durable.replace_durable``)."""
        return self.checked.get(path, ANY)

    def foreign(self, path: Path) -> bool:
        """Another process put its own version at ``path`` (neither the file ckptfix wrote there nor, before
        that, the one it checked): ``undo`` must leave it alone."""
        if path in self.written:
            return identity(path) != self.written[path]
        return path in self.checked and identity(path) != self.checked[path]

    def cleanup_temps(self) -> bool:
        """Remove the temporary files left; True when none is left."""
        ok = True
        for t in list(self.temps):
            try:
                t.unlink(missing_ok=True)
                self.temps.remove(t)
            except OSError:
                ok = False
        return ok


#: ``rewrite``: a new state in place of the old; ``create``: a file that was missing or unreadable;
#: ``patch``: bytes replaced in place (the optimizer's lr floats).
ActionKind = Literal["rewrite", "create", "patch"]


class RepairAction(ABC):
    """One planned change to one file of a checkpoint."""

    path: Path
    kind: ActionKind
    changes: tuple[Change, ...]

    @abstractmethod
    def recheck(self) -> None:
        """``RepairFailed`` unless the file still holds what the plan was computed from."""

    @abstractmethod
    def backup(self, journal: Journal) -> dict[str, Any]:
        """Keep what ``undo`` needs in ``journal.backup_dir``; return the manifest entry."""

    @abstractmethod
    def write(self, journal: Journal, hook: Fault) -> None:
        """Build and write the new file durably (temp file, fsync, ``os.replace``, fsync of the folder),
        calling ``hook`` at ``"build"``, ``"write"`` and, just before the rename, ``"replace"``; from
        then on the path is in ``journal.replaced``."""

    @abstractmethod
    def verify(self) -> None:
        """``RepairFailed`` unless the written file holds exactly what was planned."""

    @abstractmethod
    def undo(self, journal: Journal) -> bool:
        """Put the original back if ``write`` may have replaced it; True when the file is the original
        again (or was never touched)."""

