"""The repair-action interface: one planned change to one file, and how to carry it out safely.

``apply.py`` runs every action of a plan through the same stages, under one lock, with one journal:

``recheck``  the file still holds what the plan was computed from (no other writer in between);
``backup``   keep, in the checkpoint's ``.ckptfix/backup-<UTC>/``, what ``undo`` needs (a byte-identical
             copy, or a patch record for a file too large to copy); returns its manifest entry;
``write``    the new file replaces the old one whole (calling the fault hook with ``"replace"`` just
             before, and recording the path in the journal from then on);
``verify``   the new file decodes, with ckptfix's reader and torch's, to exactly what was planned;
``undo``     after a failure: the original back, bit for bit (checked against its SHA-256).

Every stage reads and writes through the journal's store (``formats/source/interface.py``:
``WritableStore``; the local disk or object storage), so each action has one write, backup and undo path
for both. An action a store cannot carry out says so (``refusal``) and the plan refuses it before anything
is written. Actions are plan data (immutable); what happens while applying lives in the ``Journal``.

``ckptfix restore`` undoes a repair later, from its backup, through the same classes: each action class
says which files it writes (``FILES``, matched against the whole name) and how (``KINDS``), reads its own
fields of a manifest entry (``entry_fields``, called by ``read_entry``), checks its backup (``check_backup``,
``backup_files``) and puts the original back (``restore_backup``). A backup found in a checkpoint is
untrusted input: ``repair/restore.py`` validates its manifest whole into ``BackupEntry`` records before
anything is touched, and ``restore`` reads and writes only through ``durable.Folder``.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from ckptfix.formats.source.durable import FileId, Folder
from ckptfix.formats.source.writable import ANY, WritableStore
from ckptfix.records import Record
from ckptfix.text import shown

__all__ = ["ABSENT", "MAX_NAME", "ActionKind", "BackupEntry", "Change", "Fault", "Journal", "RepairAction",
           "action_for", "apply_changes", "read_entry", "same"]

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
    """What applying a plan has done so far, so that ``undo`` knows what to put back; ``store``: where the
    checkpoint is read and written."""

    def __init__(self, checkpoint: Any, store: WritableStore) -> None:
        self.checkpoint = checkpoint
        self.store = store
        self.backup_dir: Any = None
        self.originals: dict[Path, str] = {}  # path -> SHA-256 of the original (files that existed)
        self.replaced: list[Path] = []  # files os.replace may have changed, in order
        self.temps: list[Path] = []  # temporary files not yet renamed or removed
        self.records: dict[Path, dict[str, Any]] = {}  # manifest entry of each action, by file
        # identities (``WritableStore.identity``): of each file when recheck confirmed it (None: absent), and of
        # each file ckptfix put in place; another process's version is detected and never overwritten
        self.checked: dict[Path, object] = {}
        self.written: dict[Path, object] = {}

    def expected(self, path: Path) -> object:
        """What ``path`` must still be right before it is replaced (``Folder.replace``)."""
        return self.checked.get(path, ANY)

    def foreign(self, path: Path) -> bool:
        """Another process put its own version at ``path`` (neither the file ckptfix wrote there nor, before
        that, the one it checked): ``undo`` must leave it alone."""
        if path in self.written:
            return self.store.identity(path) != self.written[path]
        return path in self.checked and self.store.identity(path) != self.checked[path]

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


class BackupEntry(Record):
    """One file a repair changed, as its backup's ``manifest.json`` records it, validated: the name is one the
    action writes, the hashes are SHA-256 hex, a patch's writes lie inside the file's recorded size."""

    file: str  # a name in the checkpoint folder, matched by its action's ``FILES``
    kind: ActionKind
    sha256: str | None  # the original's; None: the repair created the file
    sha256_new: str | None  # the repaired file's; None in manifests of ckptfix versions that did not record it
    writes: tuple[tuple[int, bytes, bytes], ...] = ()  # a patch: (offset, old bytes, new bytes)
    size: int | None = None  # a patch: the file's size, which the patch does not change


class RepairAction(ABC):
    """One planned change to one file of a checkpoint."""

    path: Path
    kind: ActionKind
    changes: tuple[Change, ...]

    #: The names of the files this kind of action writes (a full match), and the ``kind``s it records.
    FILES: ClassVar[re.Pattern[str]]
    KINDS: ClassVar[frozenset[str]]

    @classmethod
    def entry_fields(cls, entry: Mapping[str, Any], base: BackupEntry) -> BackupEntry:
        """``base`` (the fields every entry has, validated) completed with this action's own fields of the
        manifest ``entry``; ``ValueError`` saying what is wrong. Default: no fields of its own."""
        return base

    @classmethod
    @abstractmethod
    def backup_files(cls, entry: BackupEntry) -> tuple[str, ...]:
        """The names of the files this action keeps in the backup folder for ``entry`` (``restore --prune``
        removes a backup only when it holds nothing else)."""

    @classmethod
    def check_backup(cls, entry: BackupEntry, backup: Folder) -> None:
        """``UnreadableFile`` (or ``ValueError``) when the backup folder cannot undo ``entry``: what
        ``restore_backup`` reads there is missing, not a regular file, too large or not the original. Called
        for every entry before anything is restored (all or nothing). Default: nothing is read there."""

    @classmethod
    @abstractmethod
    def restore_backup(cls, entry: BackupEntry, checkpoint: Folder, backup: Folder, expect: FileId) -> None:
        """Undo, from the backup folder, the change recorded in ``entry`` (``ckptfix restore``). The caller holds
        the lock and has checked that the file is the repaired one, with identity ``expect``: another version
        is never replaced. ``RepairFailed`` when the original cannot be put back (nothing replaced then)."""

    def refusal(self, store: WritableStore) -> str | None:
        """Why ``store`` cannot carry out this action (the plan refuses it then, before anything is written);
        None: it can. Default: every store can."""
        return None

    @abstractmethod
    def recheck(self, journal: Journal) -> None:
        """``RepairFailed`` unless the file still holds what the plan was computed from."""

    @abstractmethod
    def backup(self, journal: Journal) -> dict[str, Any]:
        """Keep what ``undo`` needs in ``journal.backup_dir``; return the manifest entry."""

    @abstractmethod
    def write(self, journal: Journal, hook: Fault) -> None:
        """Build and write the new file durably (``WritableStore.replace``: on the local disk a temp file,
        fsync, ``os.replace``), calling ``hook`` at ``"build"``, ``"write"`` and, just before the switch,
        ``"replace"``; from then on the path is in ``journal.replaced``."""

    @abstractmethod
    def verify(self, journal: Journal) -> None:
        """``RepairFailed`` unless the written file holds exactly what was planned."""

    @abstractmethod
    def undo(self, journal: Journal) -> bool:
        """Put the original back if ``write`` may have replaced it; True when the file is the original
        again (or was never touched)."""



#: The longest file name a manifest entry may give (the names repair writes are under 40 characters).
MAX_NAME = 100
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_KINDS = ("rewrite", "create", "patch")


def _digest(entry: Mapping[str, Any], key: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256.match(value):
        raise ValueError(f"its {key} is {shown(value)}, not a SHA-256 in hex")
    return value


def action_for(name: str, actions: Iterable[type[RepairAction]]) -> type[RepairAction] | None:
    """The action class among ``actions`` that writes the file ``name``; None: no action writes it."""
    return next((a for a in actions if a.FILES.match(name)), None)


def read_entry(entry: Any, actions: Iterable[type[RepairAction]]) -> BackupEntry:
    """One entry of a backup's manifest, validated as a ``BackupEntry`` by the action class among ``actions`` that
    writes the file it names (``action_for``); ``ValueError`` saying what is wrong (values shown escaped)."""
    if not isinstance(entry, dict):
        raise ValueError(f"it is {shown(entry)}, not a JSON object")
    name = entry.get("file")
    if not isinstance(name, str):
        raise ValueError(f"its file is {shown(name)}, not a name")
    if len(name) > MAX_NAME:
        raise ValueError(f"it names a file of {len(name):,} characters, longer than any repair writes")
    cls = action_for(name, actions)
    if cls is None:
        raise ValueError(f"it names {shown(name)}, not a file ckptfix repair writes")
    kind = entry.get("action", "rewrite")  # manifests of the first releases had rewrites only, without "action"
    if kind not in _KINDS or kind not in cls.KINDS:
        raise ValueError(f"its action {shown(kind)} is not what repair does to {name} ({', '.join(sorted(cls.KINDS))})")
    original = _digest(entry, "sha256")
    if original is None and kind != "create":
        raise ValueError(f"it records no SHA-256 of the original {name}")
    base = BackupEntry(name, kind, original, _digest(entry, "sha256_new"))
    return cls.entry_fields(entry, base)
