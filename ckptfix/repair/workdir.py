"""ckptfix's own folder in a checkpoint, ``.ckptfix/``: where the lock (``lock.py``) and each repair's
``backup-<UTC time>/`` live. The folder is made through the store that writes the checkpoint; nothing in it
is reached through a symlink.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from ckptfix.errors import RepairFailed
from ckptfix.formats.source.durable import DISK
from ckptfix.formats.source.writable import WritableStore
from ckptfix.model.leftovers import WORK_DIR

__all__ = ["WORK_DIR", "make_backup_dir", "utc_stamp", "work_dir"]


def utc_stamp() -> str:
    """The current UTC time as backups and locks name it (``20250101T120000.000000Z``)."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")


def work_dir(checkpoint: Path) -> Path:
    """``<checkpoint>/.ckptfix`` on the local disk, created if needed; a symlink or a non-folder there is refused."""
    d = checkpoint / WORK_DIR
    DISK.make_folder(d, exist_ok=True)
    return d


def make_backup_dir(checkpoint: Any, store: WritableStore = DISK) -> Any:
    """A new ``.ckptfix/backup-<UTC time>/`` folder in ``checkpoint`` (on object storage: its prefix)."""
    d = checkpoint / WORK_DIR
    store.make_folder(d, exist_ok=True)
    stamp = utc_stamp()
    for i in range(100):
        b = d / (f"backup-{stamp}" if i == 0 else f"backup-{stamp}-{i}")
        try:
            store.make_folder(b)
            return b
        except FileExistsError:
            continue
    raise RepairFailed(f"could not create a backup folder in {d}")
