"""What a killed ``ckptfix repair`` can leave in a checkpoint folder, found from listings alone.

``repair`` writes each new file as ``<stem>.ckptfix-tmp-<8 hex>`` beside the real one, then renames it;
it takes ``.ckptfix/lock`` through ``.ckptfix/lock.<pid>.<8 hex>.tmp``; it fills
``.ckptfix/backup-<UTC time>/`` and writes its ``manifest.json`` last, before any file of the checkpoint
is replaced. A process killed (or a disk that filled up) in between leaves:

================== ==================================================================================
``temp-file``      a ``*.ckptfix-tmp-*`` file in the checkpoint folder (full size for an optimizer patch)
``lock-temp``      a ``.ckptfix/lock.<pid>.<hex>.tmp`` file
``empty-lock``     a 0-byte ``.ckptfix/lock`` (written by versions that created the lock before its owner)
``incomplete-backup``  a ``backup-*`` folder without a valid ``manifest.json``: the repair stopped before
                   replacing anything, so nothing in it is needed to undo a change
================== ==================================================================================

``inspect`` reports them (CKF005); ``repair`` removes those whose names are exactly its own, under its lock.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from ckptfix.errors import UnreadableFile
from ckptfix.formats.source import Store
from ckptfix.formats.source.local import TMP_MARKER
from ckptfix.records import Record

__all__ = ["BACKUP_DIR", "LOCK_NAME", "LOCK_TMP", "TMP_FILE", "TMP_MARKER", "WORK_DIR", "Leftover", "LeftoverKind",
           "backup_is_complete", "find_leftovers"]

WORK_DIR = ".ckptfix"  # inside the checkpoint: never looks like a checkpoint (cli-contract.md)
LOCK_NAME = "lock"
TMP_FILE = re.compile(r"^[A-Za-z0-9_]+" + re.escape(TMP_MARKER) + r"[0-9a-f]{8}$")
LOCK_TMP = re.compile(r"^lock\.\d+\.[0-9a-f]{8}\.tmp$")
BACKUP_DIR = re.compile(r"^backup-\d{8}T\d{6}\.\d{6}Z(?:-\d+)?$")
# what a backup folder holds: copies of scheduler files, optimizer patch records, the manifest
_BACKUP_FILE = re.compile(r"^(?:scheduler(?:_\d+)?\.(?:bin|pt)|optimizer(?:_\d+)?\.(?:bin|pt)\.patch\.json|manifest\.json)$")
_MAX_MANIFEST = 1 << 20

#: What was left.
LeftoverKind = Literal["temp-file", "lock-temp", "empty-lock", "incomplete-backup"]


class Leftover(Record):
    """One thing a killed repair left, relative to the checkpoint folder; ``own``: its name and content
    are exactly what ckptfix writes, so ``repair`` may remove it."""

    path: str
    kind: LeftoverKind
    own: bool = True


def backup_is_complete(store: Store, folder: Any) -> bool:
    """A backup folder whose ``manifest.json`` is a JSON object (written last, fsynced)."""
    try:
        raw = store.read(folder / "manifest.json", _MAX_MANIFEST, "manifest", root=folder)
        return isinstance(json.loads(raw), dict)
    except (UnreadableFile, ValueError, RecursionError):
        return False


def find_leftovers(store: Store, folder: Any) -> tuple[Leftover, ...]:
    """What killed repairs left in the checkpoint ``folder`` (its listing and ``.ckptfix/``'s)."""
    out: list[Leftover] = []
    try:
        entries = store.list(folder)
    except OSError:
        return ()
    for e in entries:
        if not e.is_dir and TMP_FILE.match(e.name) and store.kind(folder / e.name) == "file":
            out.append(Leftover(e.name, "temp-file"))
    if not any(e.name == WORK_DIR and e.is_dir for e in entries):
        return tuple(out)
    work = folder / WORK_DIR
    try:
        inner = store.list(work)
    except OSError:
        return tuple(out)
    for e in inner:
        rel = f"{WORK_DIR}/{e.name}"
        if not e.is_dir and LOCK_TMP.match(e.name):
            out.append(Leftover(rel, "lock-temp"))
        elif not e.is_dir and e.name == LOCK_NAME and _is_empty_file(store, work / e.name, work):
            out.append(Leftover(rel, "empty-lock"))
        elif e.is_dir and BACKUP_DIR.match(e.name) and not backup_is_complete(store, work / e.name):
            try:
                names = [x for x in store.list(work / e.name)]
            except OSError:
                names = []
            own = all(not x.is_dir and _BACKUP_FILE.match(x.name) for x in names)
            out.append(Leftover(rel, "incomplete-backup", own))
    return tuple(out)


def _is_empty_file(store: Store, path: Any, root: Any) -> bool:
    try:
        with store.open(path, root=root) as f:
            return f.size == 0
    except UnreadableFile:
        return False
