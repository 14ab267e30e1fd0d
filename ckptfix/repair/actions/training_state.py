"""Set ``epoch_step`` in SimpleTuner's ``training_state.json`` (and ``training_state-rank{r}.json``).

SimpleTuner before 4.10 resumes with ``lr_scheduler.last_epoch = epoch_step × N`` (3.1.6 ``trainer.py``
L3434-3437), and ``epoch_step`` drifts from ``global_step`` (+1 per epoch boundary; after a resume with
gradient accumulation). Nothing else in 3.1.6 reads the stored value before the data loader overwrites
it on the first fetch after the resume (docs/trainers.md, "What epoch_step is and every use of it"), so
setting it to the checkpoint's step makes the resume land on ``N × step``. From 4.10.0 the resume uses
``global_step`` and does not read ``epoch_step``.

Only the value changes: the file's other bytes (key order, spacing, other values) stay as the trainer
wrote them (``formats/json_edit.py``). Backup, write and undo: a whole-file write's (``whole_file.py``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ckptfix.errors import RepairFailed, UnreadableFile
from ckptfix.formats.json_edit import JsonEditError, replace_top_level_value
from ckptfix.formats.limits import DEFAULT_LIMITS
from ckptfix.records import Record
from ckptfix.repair.actions.interface import ActionKind, Change, same
from ckptfix.repair.actions.whole_file import WholeFileWrite
from ckptfix.repair.durable import is_regular, read_regular

__all__ = ["FILES", "KEY", "TrainingStateWrite", "read_state_file"]

KEY = "epoch_step"
#: The files whose epoch_step repair sets: SimpleTuner's training_state.json and its ranks' (``readers.RANK_STATE_FILE``).
FILES = re.compile(r"^training_state(?:-rank\d+)?\.json$")


def read_state_file(path: Path) -> tuple[bytes, dict[str, Any]]:
    """The file's bytes and its object; ``RepairFailed`` when it is not a JSON object ckptfix can edit."""
    if path.is_symlink() or not is_regular(path):
        raise RepairFailed(f"{path} is not a regular file")
    try:
        with read_regular(path) as f:
            data = f.read(DEFAULT_LIMITS.max_json_bytes + 1)
    except UnreadableFile as exc:
        raise RepairFailed(str(exc)) from None
    if len(data) > DEFAULT_LIMITS.max_json_bytes:
        raise RepairFailed(f"{path} is larger than ckptfix reads")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise RepairFailed(f"{path} is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise RepairFailed(f"{path} does not hold a JSON object")
    return data, obj


class TrainingStateWrite(Record, WholeFileWrite):
    """The planned change of one trainer state file's ``epoch_step``."""

    FILES = FILES
    KINDS = frozenset({"rewrite"})

    path: Path
    changes: tuple[Change, ...]
    expect: tuple[tuple[str, Any], ...]  # (key, value) the file held when the plan was made
    original: bytes = b""  # the file's bytes when the plan was made: the new file is these, edited
    kind: ActionKind = "rewrite"

    @property
    def new_value(self) -> Any:
        return self.changes[0].new

    def _check_expected(self, obj: dict[str, Any]) -> None:
        for key, value in self.expect:
            if key not in obj or not same(obj[key], value):
                raise RepairFailed(f"{self.path} changed since the plan was made ({key}); run repair again")

    def recheck(self) -> None:
        raw, obj = read_state_file(self.path)
        self._check_expected(obj)
        if raw != self.original:
            raise RepairFailed(f"{self.path} changed since the plan was made; run repair again")

    def data(self) -> bytes:
        """The file as the plan read it, with only the changed values replaced (``formats/json_edit.py``)."""
        try:
            text = self.original.decode("utf-8")
            for c in self.changes:
                text = replace_top_level_value(text, c.key, c.new)
        except (UnicodeDecodeError, JsonEditError) as exc:
            raise RepairFailed(f"{self.path}: cannot change {KEY} in place: {exc}") from None
        return text.encode("utf-8")

    def verify(self) -> None:
        if not self.written_as_planned():
            raise RepairFailed(f"verification: the new {self.path.name} does not hold the bytes written")
        _data, obj = read_state_file(self.path)
        for c in self.changes:
            if not same(obj.get(c.key), c.new):
                raise RepairFailed(f"verification: {self.path.name} holds {c.key} = {obj.get(c.key)!r}, not {c.new!r}")
        for key, value in self.expect:
            if key not in {c.key for c in self.changes} and not same(obj.get(key), value):
                raise RepairFailed(f"verification: {self.path.name} changed {key}")
