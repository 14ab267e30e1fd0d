"""The stages every action that writes a whole new file shares (the scheduler state, the trainer's JSON),
on any ``WritableStore`` (the local disk, object storage): one write, backup and undo path for both.

The new file's bytes are known before anything is written (``data()``), so the backup's manifest records
the SHA-256 of the new file as well as the original's (``ckptfix restore`` checks both). The backup is a
byte-identical copy of the old file (``store.copy``); ``write`` replaces the file whole (``store.replace``:
on the local disk a temporary file beside it, renamed over it after checking that no other process
replaced the file); ``undo`` puts the copy back (``store.put_back``), or removes a file that did not exist
before; ``restore_backup`` (``ckptfix restore``) does the same from the backup folder later.
"""

from __future__ import annotations

import io
import os
from abc import abstractmethod
from pathlib import Path
from typing import Any

from ckptfix.errors import RepairFailed, ResourceLimit, UnreadableFile
from ckptfix.formats.source.durable import FileId, Folder, check_identity, put_back, sha256_bytes
from ckptfix.formats.source.writable import ANY, WritableStore
from ckptfix.repair.actions.interface import BackupEntry, Fault, Journal, RepairAction
from ckptfix.repair.actions.torch_check import as_read, torch_load

__all__ = ["MAX_COPY", "WholeFileWrite"]

#: The largest file a whole-file action reads, copies and puts back (``ckptfix restore`` too): the files it
#: writes are scheduler states (kilobytes) and trainer JSON (at most ``Limits.max_json_bytes``, 16 MiB).
MAX_COPY = 64 * 1024 * 1024


class WholeFileWrite(RepairAction):
    """A repair action that replaces (or creates) a whole file with ``data()``."""

    path: Path

    @abstractmethod
    def data(self) -> bytes:
        """The new file's bytes (the same on every call while the file is unchanged)."""

    def before_write(self, store: WritableStore) -> None:
        """A last check of the old file, right before the new one is written (default: none)."""

    def read_now(self, store: WritableStore) -> bytes:
        """The file's bytes as the store holds them now; ``RepairFailed`` when they cannot be read."""
        try:
            return store.read_now(self.path, MAX_COPY, self.path.name)
        except (UnreadableFile, ResourceLimit) as exc:
            raise RepairFailed(str(exc)) from None

    def torch_reads(self, store: WritableStore) -> Any:
        """``torch.load(weights_only=True)`` of the file as it is now (only when ``torch_installed()``)."""
        return as_read(torch_load(io.BytesIO(self.read_now(store))))

    def backup(self, journal: Journal) -> dict[str, Any]:
        assert journal.backup_dir is not None
        store = journal.store
        copy = journal.backup_dir / self.path.name
        entry: dict[str, Any] = {"file": self.path.name, "action": self.kind}
        digest = self.copy_original(store, copy)
        if digest is not None:
            journal.originals[self.path] = digest
            entry["sha256"] = digest
        entry["restore"] = store.restore_hint(copy if digest is not None else None, self.path)
        entry["sha256_new"] = sha256_bytes(self.data())
        entry["changes"] = [{"key": c.key, "old": repr(c.old), "new": repr(c.new), "fixes": list(c.fixes)}
                            for c in self.changes]
        return entry

    def copy_original(self, store: WritableStore, copy: Any) -> str | None:
        """Copy the file as it is now to ``copy``, checked against its SHA-256; that SHA-256, or None when
        there is no file (a ``create``)."""
        path = self.path
        if store.regular(path) is None:
            return None
        digest = store.sha256(path, MAX_COPY)
        store.copy(path, copy)
        if store.sha256(copy, MAX_COPY) != digest:
            raise RepairFailed(f"backup of {path} does not match the original")
        return digest

    def write(self, journal: Journal, hook: Fault) -> None:
        path, store = self.path, journal.store
        hook("build", path)
        check_identity(path, journal.expected(path), "since ckptfix checked it", store.identity(path))
        self.before_write(store)
        data = self.data()
        hook("write", path)

        def switch() -> None:  # the new file is complete beside the old one (or, on object storage, in memory)
            hook("replace", path)
            journal.replaced.append(path)

        journal.written[path] = store.replace(path, data, journal.expected(path), switch)

    def written_as_planned(self, store: WritableStore) -> bool:
        """The file holds exactly the planned bytes (for ``verify``)."""
        return store.sha256(self.path, MAX_COPY) == sha256_bytes(self.data())

    def undo(self, journal: Journal) -> bool:
        path, store = self.path, journal.store
        if path not in journal.replaced:
            return True
        if journal.foreign(path):  # another process put its version there after ours: never overwrite it
            return False
        try:
            with store.undoing():  # never cut short by --timeout: each request keeps its own timeouts
                if path in journal.originals:
                    assert journal.backup_dir is not None
                    if store.sha256(path, MAX_COPY) == journal.originals[path]:
                        return True  # the switch never happened
                    store.put_back(journal.backup_dir / path.name, path, journal.originals[path],
                                   journal.written.get(path, ANY), MAX_COPY)
                    return True
                store.remove(path, journal.written.get(path, ANY))  # created: remove it
                return store.regular(path) is None
        except Exception:  # noqa: BLE001 - report "not restored", never mask the original failure
            return False

    @classmethod
    def backup_files(cls, entry: BackupEntry) -> tuple[str, ...]:
        """The copy of the original, named as the file (none for a file the repair created)."""
        return () if entry.sha256 is None else (entry.file,)

    @classmethod
    def check_backup(cls, entry: BackupEntry, backup: Folder) -> None:
        """The copy is a regular file (not a link) of at most ``MAX_COPY`` bytes whose SHA-256 is the original's."""
        if entry.sha256 is None:
            return
        fd, size = backup.open_file(entry.file)
        os.close(fd)
        if size > MAX_COPY:
            raise ValueError(f"its copy of {entry.file} is {size:,} bytes, more than ckptfix restores ({MAX_COPY:,})")
        if backup.sha256(entry.file)[0] != entry.sha256:
            raise ValueError(f"its copy of {entry.file} is not the original the manifest records (SHA-256 differs)")

    @classmethod
    def restore_backup(cls, entry: BackupEntry, checkpoint: Folder, backup: Folder, expect: FileId) -> None:
        """A file the repair replaced gets its copy back; one it created (no original) is removed."""
        if entry.sha256 is None:
            checkpoint.unlink(entry.file, expect)
        else:
            put_back(backup, checkpoint, entry.file, entry.sha256, expect, MAX_COPY)
