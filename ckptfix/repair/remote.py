"""``repair`` on object storage (S3, GCS, Azure, the Hub): what it does, and what it cannot give.

Object storage has no rename, no lock and no change of several objects at once. So, per scheduler file
(``ObjectSchedulerWrite``, the same ``RepairAction`` stages as on disk):

``recheck``  the object, read again from the server, still holds what the plan was computed from;
``backup``   a server-side copy to ``<checkpoint>/.ckptfix/backup-<UTC>/<name>``, read back and checked
             against the original's SHA-256, and a ``manifest.json`` beside it;
``write``    the new object whole, in one PUT (a reader sees the old object or the new one, never a part),
             its bytes those ``torch.save`` writes (``formats/torch_writer.py``);
``verify``   the object read back from the server decodes, with ckptfix's reader (and torch's, when
             torch is installed), to exactly what was planned;
``undo``     after a failure: the backup copied back (server-side), checked against the SHA-256 (the
             command's ``--timeout`` does not cut it short: each request keeps its own timeouts).

What it cannot give, said in every plan (``NOTE``): no lock (a second repair, or a trainer saving into
the same checkpoint at the same time, is not detected); no atomic change across files (each object is
replaced on its own). ``--optimizer-lr`` patches a multi-GB object in place: refused here.
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

from ckptfix.errors import RepairFailed, UnreadableFile, UsageError
from ckptfix.formats.source.interface import Store
from ckptfix.formats.torchfile import open_torch_file
from ckptfix.model.discover import is_in_progress
from ckptfix.records import replace
from ckptfix.repair.actions.interface import Fault, Journal, same
from ckptfix.repair.actions.scheduler import SchedulerWrite
from ckptfix.repair.actions.training_state import TrainingStateWrite
from ckptfix.repair.apply import Site
from ckptfix.repair.durable import ANY, WORK_DIR, utc_stamp
from ckptfix.repair.plan import Refusal, RepairPlan
from ckptfix.repair.torch_check import as_read, torch_installed

__all__ = ["NOTE", "OPTIMIZER_LR_REFUSED", "ObjectSchedulerWrite", "ObjectSite", "for_object_storage"]

NOTE = ("object storage: each scheduler file is replaced whole by one upload after a server-side backup "
        "copy into .ckptfix/; there is no lock (a trainer or another repair writing this checkpoint at the "
        "same time is not detected) and no atomic change across files")
OPTIMIZER_LR_REFUSED = ("--optimizer-lr patches optimizer*.bin in place; on object storage that means uploading "
                        "the whole multi-GB object again with no atomic replace: not done. Run repair without "
                        "--optimizer-lr (the scheduler sets the right LR from the second step on), or repair a "
                        "local copy")
_MAX_SCHEDULER = 64 * 1024 * 1024  # a scheduler state is a few KB; a backup larger than this is not one


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _torch_load(data: bytes) -> Any:
    """torch.load(weights_only=True) of the object's bytes; only when ``torch_installed()``."""
    import torch  # noqa: PLC0415 - only repair loads with torch: the second opinion of verify

    return as_read(torch.load(io.BytesIO(data), weights_only=True))


class ObjectSchedulerWrite(SchedulerWrite):
    """A ``SchedulerWrite`` whose file is an object: backup by server-side copy, one PUT, no rename."""

    store: Any = None

    def _fresh(self) -> bytes:
        return self.store.read_fresh(self.path, _MAX_SCHEDULER, "scheduler file")

    def _decoded_now(self) -> Any:
        self.store.forget(self.path)
        with open_torch_file(self.path, store=self.store) as tf:
            return tf.obj

    def recheck(self) -> None:
        if self.kind == "rewrite":
            if not same(self._decoded_now(), self.original):
                raise RepairFailed(f"{self.path} changed since the plan was made; run repair again")
        elif self.store.stat(self.path) is not None and not self.replaces_unreadable:
            raise RepairFailed(f"{self.path} appeared since the plan was made; run repair again")

    def copy_original(self, copy: Any) -> str | None:
        if self.store.stat(self.path) is None:
            return None
        digest = _sha256(self._fresh())
        self.store.copy(self.path, copy)  # server-side: the bytes do not travel through this machine
        if _sha256(self.store.read_fresh(copy, _MAX_SCHEDULER, "backup")) != digest:
            raise RepairFailed(f"backup of {self.path} does not match the original")
        return digest

    def restore_hint(self, copy: Any) -> str:
        if copy is None:
            return f"delete {self.path}  # did not exist before"
        return f"copy {copy} to {self.path}"

    def write(self, journal: Journal, hook: Fault) -> None:
        path = self.path
        hook("build", path)
        if self.kind == "rewrite" and torch_installed():
            loaded = _torch_load(self._fresh())
            if not isinstance(loaded, dict) or not same(loaded, self.original):
                raise RepairFailed(f"{path}: torch.load(weights_only=True) gives other values than ckptfix's reader")
        hook("write", path)
        data = self.data()  # the bytes torch.save writes, by formats/torch_writer.py (as on disk)
        hook("replace", path)
        journal.replaced.append(path)
        self.store.put(path, data)

    def verify(self) -> None:
        want = self.target
        try:
            ours = self._decoded_now()
        except UnreadableFile as exc:
            raise RepairFailed(f"verification: ckptfix cannot read the new {self.path.name}: {exc}") from None
        if not same(ours, want):
            raise RepairFailed(f"verification: the new {self.path.name} decodes to other values than planned")
        if torch_installed() and not same(_torch_load(self._fresh()), want):
            raise RepairFailed(f"verification: torch.load(weights_only=True) of the new {self.path.name} differs from the plan")

    def undo(self, journal: Journal) -> bool:
        """The original back; not cut short by ``--timeout`` (each request keeps its own timeouts)."""
        path = self.path
        if path not in journal.replaced:
            return True
        try:
            with self.store.deadline_lifted():
                return self._undo(path, journal)
        except Exception:  # noqa: BLE001 - report "not restored", never mask the original failure
            return False

    def _undo(self, path: Any, journal: Journal) -> bool:
        if path in journal.originals:
            assert journal.backup_dir is not None
            if self.store.stat(path) is not None and _sha256(self._fresh()) == journal.originals[path]:
                return True  # the upload never happened
            self.store.copy(journal.backup_dir / path.name, path)
            return _sha256(self._fresh()) == journal.originals[path]
        self.store.remove(path)  # created: remove it
        return self.store.stat(path) is None


class ObjectSite(Site):
    """A checkpoint on object storage: no lock to take, objects instead of folders."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def check_target(self, checkpoint: Any, path: Any) -> None:
        if is_in_progress(checkpoint.name):
            raise RepairFailed(f"{checkpoint}: still being written (name ends in tmp); not touched")
        if path.parent != checkpoint:
            raise RepairFailed(f"{path}: not directly inside {checkpoint}")

    def lock(self, checkpoint: Any, cleaned: list[str]) -> Any:
        return None  # object storage has no lock (said in the plan: NOTE)

    def clean_leftovers(self, checkpoint: Any) -> list[str]:
        return []  # nothing is written beside an object but the backup prefix

    def identity(self, path: Any) -> object:
        return ANY  # no inode to compare: the recheck re-reads the object itself

    def unlock(self, lock: Any) -> None:
        pass

    def backup_dir(self, checkpoint: Any) -> Any:
        return checkpoint / WORK_DIR / f"backup-{utc_stamp()}"  # a prefix: it exists once written to

    def write_manifest(self, backup: Any, manifest: dict[str, Any]) -> None:
        self.store.put(backup / "manifest.json", (json.dumps(manifest, indent=2) + "\n").encode())


def for_object_storage(plan: RepairPlan, store: Store, optimizer_lr: bool) -> RepairPlan:
    """The plan with its scheduler writes done the object-storage way, and the note saying what that
    cannot give; ``UsageError`` for ``--optimizer-lr``."""
    if optimizer_lr:
        raise UsageError(OPTIMIZER_LR_REFUSED)
    state_files = [a.path for a in plan.actions if isinstance(a, TrainingStateWrite)]
    if state_files:  # writes there are scheduler files only; a trainer state file is the user's to edit
        why = Refusal(state_files[0], f"on object storage ckptfix rewrites scheduler files only; this repair also "
                      f"rewrites {', '.join(p.name for p in state_files)} (its epoch_step, which SimpleTuner before "
                      "4.10 resumes from, or its encoding): repair a local copy, or pass --trainer simpletuner>=4.10 "
                      "if that release resumes and the file needs no new encoding", 1)
        return replace(plan, actions=(), refusals=plan.refusals + (why,))
    actions = tuple(ObjectSchedulerWrite(a.path, a.kind, a.changes, a.original, a.replaces_unreadable, store)
                    if isinstance(a, SchedulerWrite) else a for a in plan.actions)
    notes = plan.notes + ((NOTE,) if actions else ())
    return replace(plan, actions=actions, notes=notes)
