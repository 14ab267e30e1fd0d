"""Write a scheduler state file: rewrite an inconsistent one, or create a missing (or unreadable) one.

The new file is the planned state in ``torch.save``'s format, written by ``formats/torch_writer.py``
without torch; backup, write and undo are a whole-file write's (``whole_file.py``), on the local disk or
on object storage alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ckptfix.errors import RepairFailed, UnreadableFile
from ckptfix.formats.source.writable import WritableStore
from ckptfix.formats.torch_writer import archive_name_for, dumps
from ckptfix.formats.torchfile import open_torch_file
from ckptfix.model.readers import SCHEDULER_FILE
from ckptfix.records import Record
from ckptfix.repair.actions.interface import ActionKind, Change, Journal, apply_changes, same
from ckptfix.repair.actions.torch_check import torch_installed
from ckptfix.repair.actions.whole_file import WholeFileWrite

__all__ = ["SchedulerWrite"]


def _decoded(path: Any, store: WritableStore) -> Any:
    """The file as ckptfix's reader decodes it now (never from a cache)."""
    store.forget(path)
    with open_torch_file(path, store=store) as tf:
        return tf.obj


class SchedulerWrite(Record, WholeFileWrite):
    """The planned new content of one ``scheduler*.bin``."""

    FILES = SCHEDULER_FILE
    KINDS = frozenset({"rewrite", "create"})

    path: Path
    kind: ActionKind  # "rewrite" | "create"
    changes: tuple[Change, ...] = ()
    original: dict[str, Any] | None = None  # decoded by ckptfix's reader; None for create/recreate
    replaces_unreadable: bool = False  # --recreate over a file that failed the safe read

    @property
    def target(self) -> dict[str, Any]:
        """The complete state this file must hold after the repair."""
        return apply_changes(self.original or {}, self.changes)

    def recheck(self, journal: Journal) -> None:
        store = journal.store
        regular = store.regular(self.path)
        if regular is False:  # a FIFO, device or folder: never read (it would block), never replaced
            raise RepairFailed(f"{self.path} is not a regular file (a FIFO, device, folder or symlink): ckptfix "
                               "neither reads nor replaces it; remove it, then run repair again")
        if self.kind == "rewrite":
            if not same(_decoded(self.path, store), self.original):
                raise RepairFailed(f"{self.path} changed since the plan was made; run repair again")
        elif regular and not self.replaces_unreadable:
            raise RepairFailed(f"{self.path} appeared since the plan was made; run repair again")

    def data(self) -> bytes:
        """The new file's bytes: what ``torch.save(self.target, path)`` writes (torch 2.13), without torch."""
        try:
            return dumps(self.target, archive_name_for(self.path.name))
        except (TypeError, ValueError) as exc:
            raise RepairFailed(f"{self.path.name}: the planned state cannot be written in torch's format: {exc}") from None

    def before_write(self, store: WritableStore) -> None:
        if self.kind == "rewrite" and torch_installed() and not same(self.torch_reads(store), self.original):
            # the rewrite keeps every key it does not own as decoded: torch must read the original the same way
            raise RepairFailed(f"{self.path}: torch.load(weights_only=True) gives other values than ckptfix's reader")

    def verify(self, journal: Journal) -> None:
        """The file holds exactly the planned bytes; ckptfix's reader decodes them to the planned state,
        and so does ``torch.load(weights_only=True)`` when torch is installed."""
        store, want = journal.store, self.target
        if not self.written_as_planned(store):
            raise RepairFailed(f"verification: the new {self.path.name} does not hold the bytes written")
        try:
            ours = _decoded(self.path, store)
        except UnreadableFile as exc:
            raise RepairFailed(f"verification: ckptfix cannot read the new {self.path.name}: {exc}") from None
        if not same(ours, want):
            raise RepairFailed(f"verification: the new {self.path.name} decodes to other values than planned")
        if torch_installed() and not same(self.torch_reads(store), want):
            raise RepairFailed(f"verification: torch.load(weights_only=True) of the new {self.path.name} differs from the plan")
