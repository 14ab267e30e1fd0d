"""The stages every action that writes a whole new file shares (the scheduler state, the trainer's JSON).

The new file's bytes are known before anything is written (``data()``), so the backup's manifest records
the SHA-256 of the new file as well as the original's (``ckptfix restore`` checks both). The backup is a
byte-identical copy of the old file; ``write`` goes through a temporary file beside it (``durable.py``),
checking right before the rename that no other process replaced the file; ``undo`` puts the copy back by
the same route, or removes a file that did not exist before; ``restore_backup`` (``ckptfix restore``) does
the same from the backup folder later.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from pathlib import Path
from typing import Any

from ckptfix.errors import RepairFailed
from ckptfix.repair.actions.interface import BackupEntry, Fault, Journal, RepairAction
from ckptfix.repair.durable import (
    ANY,
    WORK_DIR,
    FileId,
    Folder,
    check_identity,
    copy_durable,
    fsync_dir,
    fsync_file,
    keep_mode,
    put_back,
    replace_durable,
    sha256,
    sha256_bytes,
    tmp_name,
    write_new,
)

__all__ = ["MAX_COPY", "WholeFileWrite"]

#: The largest backup copy ``ckptfix restore`` reads and puts back: the files a whole-file action writes
#: are scheduler states (kilobytes) and trainer JSON (at most ``Limits.max_json_bytes``, 16 MiB).
MAX_COPY = 64 * 1024 * 1024


class WholeFileWrite(RepairAction):
    """A repair action that replaces (or creates) a whole file with ``data()``."""

    path: Path

    @abstractmethod
    def data(self) -> bytes:
        """The new file's bytes (the same on every call while the file is unchanged)."""

    def before_write(self) -> None:
        """A last check of the old file, right before the new one is written (default: none)."""

    def backup(self, journal: Journal) -> dict[str, Any]:
        assert journal.backup_dir is not None
        copy = journal.backup_dir / self.path.name
        entry: dict[str, Any] = {"file": self.path.name, "action": self.kind}
        digest = self.copy_original(copy)
        if digest is not None:
            journal.originals[self.path] = digest
            entry["sha256"] = digest
        entry["restore"] = self.restore_hint(copy if digest is not None else None)
        entry["sha256_new"] = sha256_bytes(self.data())
        entry["changes"] = [{"key": c.key, "old": repr(c.old), "new": repr(c.new), "fixes": list(c.fixes)}
                            for c in self.changes]
        return entry

    def copy_original(self, copy: Path) -> str | None:
        """Copy the file as it is now to ``copy``, checked against its SHA-256; that SHA-256, or None when
        there is no file (a ``create``)."""
        path = self.path
        if not path.exists():
            return None
        digest = sha256(path)
        copy_durable(path, copy)
        if sha256(copy) != digest:
            raise RepairFailed(f"backup of {path} does not match the original")
        return digest

    def restore_hint(self, copy: Path | None) -> str:
        """How to put the original back by hand (the manifest's ``restore``), run from the checkpoint."""
        if copy is None:
            return f"rm {self.path.name}  # did not exist before"
        return f"cp {WORK_DIR}/{copy.parent.name}/{copy.name} {self.path.name}"

    def write(self, journal: Journal, hook: Fault) -> None:
        path = self.path
        hook("build", path)
        check_identity(path, journal.expected(path), "since ckptfix checked it")
        self.before_write()
        data = self.data()
        tmp = tmp_name(path)
        journal.temps.append(tmp)
        hook("write", path)
        write_new(tmp, data)
        keep_mode(path, tmp)
        fsync_file(tmp)  # the mode too
        hook("replace", path)
        journal.replaced.append(path)
        journal.written[path] = replace_durable(tmp, path, journal.expected(path))
        journal.temps.remove(tmp)

    def written_as_planned(self) -> bool:
        """The file holds exactly the planned bytes (for ``verify``)."""
        return sha256(self.path) == sha256_bytes(self.data())

    def undo(self, journal: Journal) -> bool:
        path = self.path
        if path not in journal.replaced:
            return True
        if journal.foreign(path):  # another process put its version there after ours: never overwrite it
            return False
        try:
            if path in journal.originals:
                assert journal.backup_dir is not None
                if path.exists() and sha256(path) == journal.originals[path]:
                    return True  # os.replace never ran
                with Folder.open(journal.backup_dir) as backup, Folder.open(path.parent) as folder:
                    put_back(backup, folder, path.name, journal.originals[path], journal.written.get(path, ANY))
                return True
            path.unlink(missing_ok=True)  # created: remove it
            fsync_dir(path.parent)
            return True
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
