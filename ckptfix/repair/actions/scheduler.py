"""Write a scheduler state file: rewrite an inconsistent one, or create a missing (or unreadable) one.

The new file is ``torch.save`` of the planned state (torch is imported only here, when writing). The
backup is a byte-identical copy of the old file; ``undo`` puts it back by the same durable route.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ckptfix.errors import RepairFailed, UnreadableFile
from ckptfix.formats.torchfile import open_torch_file
from ckptfix.records import Record
from ckptfix.repair.actions.interface import (
    ABSENT,
    ActionKind,
    Change,
    Fault,
    Journal,
    RepairAction,
    apply_changes,
    same,
)
from ckptfix.repair.durable import (
    ANY,
    WORK_DIR,
    check_identity,
    copy_durable,
    fsync_dir,
    fsync_file,
    is_regular,
    keep_mode,
    replace_durable,
    sha256,
    tmp_name,
)

__all__ = ["SchedulerWrite"]


def _decoded(path: Path) -> Any:
    with open_torch_file(path) as tf:
        return tf.obj


class SchedulerWrite(Record, RepairAction):
    """The planned new content of one ``scheduler*.bin``."""

    path: Path
    kind: ActionKind  # "rewrite" | "create"
    changes: tuple[Change, ...] = ()
    original: dict[str, Any] | None = None  # decoded by ckptfix's reader; None for create/recreate
    replaces_unreadable: bool = False  # --recreate over a file that failed the safe read

    @property
    def target(self) -> dict[str, Any]:
        """The complete state this file must hold after the repair."""
        return apply_changes(self.original or {}, self.changes)

    def recheck(self) -> None:
        regular = is_regular(self.path)
        if regular is False:  # a FIFO, device or folder: never read (it would block), never replaced
            raise RepairFailed(f"{self.path} is not a regular file (a FIFO, device, folder or symlink): ckptfix "
                               "neither reads nor replaces it; remove it, then run repair again")
        if self.kind == "rewrite":
            if not same(_decoded(self.path), self.original):
                raise RepairFailed(f"{self.path} changed since the plan was made; run repair again")
        elif regular and not self.replaces_unreadable:
            raise RepairFailed(f"{self.path} appeared since the plan was made; run repair again")

    def backup(self, journal: Journal) -> dict[str, Any]:
        assert journal.backup_dir is not None
        path, backup = self.path, journal.backup_dir
        entry: dict[str, Any] = {"file": path.name, "action": self.kind}
        if path.exists():
            digest = sha256(path)
            copy_durable(path, backup / path.name)
            if sha256(backup / path.name) != digest:
                raise RepairFailed(f"backup of {path} does not match the original")
            journal.originals[path] = digest
            entry["sha256"] = digest
            entry["restore"] = f"cp {WORK_DIR}/{backup.name}/{path.name} {path.name}"
        else:
            entry["restore"] = f"rm {path.name}  # did not exist before"
        entry["changes"] = [{"key": c.key, "old": repr(c.old), "new": repr(c.new), "fixes": list(c.fixes)}
                            for c in self.changes]
        return entry

    def _build(self) -> dict[str, Any]:
        if self.kind == "create":
            return self.target
        import torch  # noqa: PLC0415 - only repair writes torch files: the read path never imports torch

        loaded = torch.load(self.path, weights_only=True)
        if not isinstance(loaded, dict) or not same(loaded, self.original):
            raise RepairFailed(f"{self.path}: torch.load(weights_only=True) gives other values than ckptfix's reader")
        out = dict(loaded)
        for c in self.changes:
            if c.new is ABSENT:
                out.pop(c.key, None)
            else:
                out[c.key] = c.new
        return out

    def write(self, journal: Journal, hook: Fault) -> None:
        import torch  # noqa: PLC0415 - see _build

        path = self.path
        hook("build", path)
        check_identity(path, journal.expected(path), "since ckptfix checked it")
        obj = self._build()
        tmp = tmp_name(path)
        journal.temps.append(tmp)
        hook("write", path)
        torch.save(obj, tmp)
        keep_mode(path, tmp)
        fsync_file(tmp)
        hook("replace", path)
        journal.replaced.append(path)
        journal.written[path] = replace_durable(tmp, path, journal.expected(path))
        journal.temps.remove(tmp)

    def verify(self) -> None:
        import torch  # noqa: PLC0415 - see _build

        want = self.target
        try:
            ours = _decoded(self.path)
        except UnreadableFile as exc:
            raise RepairFailed(f"verification: ckptfix cannot read the new {self.path.name}: {exc}") from None
        if not same(ours, want):
            raise RepairFailed(f"verification: the new {self.path.name} decodes to other values than planned")
        theirs = torch.load(self.path, weights_only=True)
        if not same(theirs, want):
            raise RepairFailed(f"verification: torch.load(weights_only=True) of the new {self.path.name} differs from the plan")

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
                tmp = tmp_name(path)
                copy_durable(journal.backup_dir / path.name, tmp)
                keep_mode(path, tmp)
                replace_durable(tmp, path, journal.written.get(path, ANY))
                return sha256(path) == journal.originals[path]
            path.unlink(missing_ok=True)  # created: remove it
            fsync_dir(path.parent)
            return True
        except Exception:  # noqa: BLE001 - report "not restored", never mask the original failure
            return False
