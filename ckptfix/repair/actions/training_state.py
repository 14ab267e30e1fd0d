"""Set ``epoch_step`` in SimpleTuner's ``training_state.json`` (and ``training_state-rank{r}.json``).

SimpleTuner before 4.10 resumes with ``lr_scheduler.last_epoch = epoch_step × N`` (3.1.6 ``trainer.py``
L3434-3437), and ``epoch_step`` drifts from ``global_step`` (+1 per epoch boundary; after a resume with
gradient accumulation). Nothing else in 3.1.6 reads the stored value before the data loader overwrites
it on the first fetch after the resume (docs/trainers.md, "What epoch_step is and every use of it"), so
setting it to the checkpoint's step makes the resume land on ``N × step``. From 4.10.0 the resume uses
``global_step`` and does not read ``epoch_step``.

Only the value changes: the file's other bytes (key order, spacing, other values) stay as the trainer
wrote them (``formats/json_edit.py``). Backup: a byte-identical copy; ``undo`` puts it back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ckptfix.errors import RepairFailed
from ckptfix.formats.json_edit import JsonEditError, replace_top_level_value
from ckptfix.formats.limits import DEFAULT_LIMITS
from ckptfix.records import Record
from ckptfix.repair.actions.interface import ActionKind, Change, Fault, Journal, RepairAction, same
from ckptfix.repair.durable import WORK_DIR, copy_durable, keep_mode, replace_durable, sha256, tmp_name

__all__ = ["KEY", "TrainingStateWrite"]

KEY = "epoch_step"


def _read(path: Path) -> tuple[bytes, dict[str, Any]]:
    """The file's bytes and its object; ``RepairFailed`` when it is not a JSON object ckptfix can edit."""
    if path.is_symlink() or not path.is_file():
        raise RepairFailed(f"{path} is not a regular file")
    with open(path, "rb") as f:
        data = f.read(DEFAULT_LIMITS.max_json_bytes + 1)
    if len(data) > DEFAULT_LIMITS.max_json_bytes:
        raise RepairFailed(f"{path} is larger than ckptfix reads")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise RepairFailed(f"{path} is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise RepairFailed(f"{path} does not hold a JSON object")
    return data, obj


class TrainingStateWrite(Record, RepairAction):
    """The planned change of one trainer state file's ``epoch_step``."""

    path: Path
    changes: tuple[Change, ...]
    expect: tuple[tuple[str, Any], ...]  # (key, value) the file held when the plan was made
    kind: ActionKind = "rewrite"

    @property
    def new_value(self) -> Any:
        return self.changes[0].new

    def _check_expected(self, obj: dict[str, Any]) -> None:
        for key, value in self.expect:
            if key not in obj or not same(obj[key], value):
                raise RepairFailed(f"{self.path} changed since the plan was made ({key}); run repair again")

    def recheck(self) -> None:
        _data, obj = _read(self.path)
        self._check_expected(obj)

    def backup(self, journal: Journal) -> dict[str, Any]:
        assert journal.backup_dir is not None
        path, backup = self.path, journal.backup_dir
        digest = sha256(path)
        copy_durable(path, backup / path.name)
        if sha256(backup / path.name) != digest:
            raise RepairFailed(f"backup of {path} does not match the original")
        journal.originals[path] = digest
        return {"file": path.name, "action": self.kind, "sha256": digest,
                "restore": f"cp {WORK_DIR}/{backup.name}/{path.name} {path.name}",
                "changes": [{"key": c.key, "old": repr(c.old), "new": repr(c.new), "fixes": list(c.fixes)}
                            for c in self.changes]}

    def _build(self) -> bytes:
        data, obj = _read(self.path)
        self._check_expected(obj)
        try:
            text = data.decode("utf-8")
            for c in self.changes:
                text = replace_top_level_value(text, c.key, c.new)
        except JsonEditError as exc:
            raise RepairFailed(f"{self.path}: cannot change {KEY} in place: {exc}") from None
        return text.encode("utf-8")

    def write(self, journal: Journal, hook: Fault) -> None:
        path = self.path
        hook("build", path)
        new = self._build()
        tmp = tmp_name(path)
        journal.temps.append(tmp)
        hook("write", path)
        with open(tmp, "xb") as f:
            f.write(new)
            f.flush()
            os.fsync(f.fileno())
        keep_mode(path, tmp)
        hook("replace", path)
        journal.replaced.append(path)
        replace_durable(tmp, path)
        journal.temps.remove(tmp)

    def verify(self) -> None:
        _data, obj = _read(self.path)
        for c in self.changes:
            if not same(obj.get(c.key), c.new):
                raise RepairFailed(f"verification: {self.path.name} holds {c.key} = {obj.get(c.key)!r}, not {c.new!r}")
        for key, value in self.expect:
            if key not in {c.key for c in self.changes} and not same(obj.get(key), value):
                raise RepairFailed(f"verification: {self.path.name} changed {key}")

    def undo(self, journal: Journal) -> bool:
        path = self.path
        if path not in journal.replaced:
            return True
        try:
            assert journal.backup_dir is not None
            if path.exists() and sha256(path) == journal.originals[path]:
                return True
            tmp = tmp_name(path)
            copy_durable(journal.backup_dir / path.name, tmp)
            keep_mode(path, tmp)
            replace_durable(tmp, path)
            return sha256(path) == journal.originals[path]
        except Exception:  # noqa: BLE001 - report "not restored", never mask the original failure
            return False
