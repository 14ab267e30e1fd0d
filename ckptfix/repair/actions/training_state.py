"""Rewrite SimpleTuner's ``training_state.json`` (and ``training_state-rank{r}.json``): its ``epoch_step``,
and its encoding.

SimpleTuner before 4.10 resumes with ``lr_scheduler.last_epoch = epoch_step × N`` (3.1.6 ``trainer.py``
L3434-3437), and ``epoch_step`` drifts from ``global_step`` (+1 per epoch boundary; after a resume with
gradient accumulation). Nothing else in 3.1.6 reads the stored value before the data loader overwrites
it on the first fetch after the resume (docs/trainers.md, "What epoch_step is and every use of it"), so
setting it to the checkpoint's step makes the resume land on ``N × step``. From 4.10.0 the resume uses
``global_step`` and does not read ``epoch_step``. A value that is no JSON integer (``22.0``, ``true``,
``"30"``) is replaced by the integer; a missing one (SimpleTuner reads 0) is added after ``global_step``.

SimpleTuner reads the file with ``json.load(open(path))``: UTF-8 text without a byte-order mark. A file in
UTF-16/32 or with a BOM fails that read and the resume starts from step 0 (CKF006); the rewrite writes it
as plain UTF-8 (a ``Change`` of the pseudo-key ``ENCODING``).

Only those change: the file's other text (key order, spacing, other values) stays as the trainer wrote it
(``formats/json_edit.py``), re-encoded when asked. Backup, write and undo: a whole-file write's
(``whole_file.py``); ``verify`` reads the new file back and checks every value.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ckptfix.errors import RepairFailed, ResourceLimit, UnreadableFile
from ckptfix.formats.json_edit import JsonEditError, insert_top_level_value, replace_top_level_value
from ckptfix.formats.jsonfile import decode_json_text, foreign_encoding
from ckptfix.formats.limits import DEFAULT_LIMITS
from ckptfix.formats.source.durable import DISK
from ckptfix.formats.source.writable import WritableStore
from ckptfix.records import Record
from ckptfix.repair.actions.interface import ABSENT, ActionKind, Change, Journal, apply_changes, same
from ckptfix.repair.actions.whole_file import WholeFileWrite

__all__ = ["ENCODING", "FILES", "KEY", "PLAIN", "TrainingStateWrite", "read_state_file"]

KEY = "epoch_step"
#: The files repair rewrites (epoch_step, encoding): SimpleTuner's training_state.json and its ranks'
#: (``readers.RANK_STATE_FILE``); kohya's and the Trainer's state files are never rewritten.
FILES = re.compile(r"^training_state(?:-rank\d+)?\.json$")
#: The ``Change`` key of a re-encoding (old: the file's encoding, new: ``PLAIN``); never a JSON key.
ENCODING = "(encoding)"
PLAIN = "UTF-8"
#: Where a missing ``epoch_step`` goes: after ``global_step``, as SimpleTuner writes them.
_AFTER = "global_step"


def read_state_file(path: Any, store: WritableStore = DISK) -> tuple[bytes, dict[str, Any]]:
    """The file's bytes as ``store`` holds them now and its object (in any encoding JSON allows); ``RepairFailed``
    when it is not a regular file holding a JSON object ckptfix can edit."""
    if not store.regular(path):
        raise RepairFailed(f"{path} is not a regular file")
    try:
        data = store.read_now(path, DEFAULT_LIMITS.max_json_bytes, "trainer state file")
    except ResourceLimit:
        raise RepairFailed(f"{path} is larger than ckptfix reads") from None
    except UnreadableFile as exc:
        raise RepairFailed(str(exc)) from None
    try:
        obj = json.loads(decode_json_text(data))
    except (UnicodeDecodeError, LookupError, json.JSONDecodeError, RecursionError, ValueError) as exc:
        raise RepairFailed(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise RepairFailed(f"{path} does not hold a JSON object")
    return data, obj


class TrainingStateWrite(Record, WholeFileWrite):
    """The planned change of one trainer state file: its ``epoch_step``, its encoding, or both."""

    FILES = FILES
    KINDS = frozenset({"rewrite"})

    path: Path
    changes: tuple[Change, ...]
    expect: tuple[tuple[str, Any], ...]  # (key, value) the file held when the plan was made (ABSENT: no such key)
    original: bytes = b""  # the file's bytes when the plan was made: the new file is these, edited
    kind: ActionKind = "rewrite"

    def new_value(self, key: str = KEY) -> Any:
        """The value this write gives ``key`` (None when it does not change it)."""
        return next((c.new for c in self.changes if c.key == key), None)

    def _values(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.key != ENCODING)

    def _check_expected(self, obj: dict[str, Any]) -> None:
        for key, value in self.expect:
            if (key in obj) != (value is not ABSENT) or (key in obj and not same(obj[key], value)):
                raise RepairFailed(f"{self.path} changed since the plan was made ({key}); run repair again")

    def refusal(self, store: WritableStore) -> str | None:
        """Without a lock (object storage), ckptfix rewrites scheduler files only: a trainer state file is the
        user's to edit there."""
        if store.locks:
            return None
        return (f"on object storage ckptfix rewrites scheduler files only; this repair also rewrites {self.path.name} "
                "(its epoch_step, which SimpleTuner before 4.10 resumes from, or its encoding): repair a local copy, "
                "or pass --trainer simpletuner>=4.10 if that release resumes and the file needs no new encoding")

    def recheck(self, journal: Journal) -> None:
        raw, obj = read_state_file(self.path, journal.store)
        self._check_expected(obj)
        if raw != self.original:
            raise RepairFailed(f"{self.path} changed since the plan was made; run repair again")

    def data(self) -> bytes:
        """The file as the plan read it, with only the changed values replaced (``formats/json_edit.py``), as
        plain UTF-8 (what the trainer reads; the same bytes as before when it already was)."""
        try:
            text = decode_json_text(self.original)
            for c in self._values():
                text = (insert_top_level_value(text, c.key, c.new, after=_AFTER) if c.old is ABSENT
                        else replace_top_level_value(text, c.key, c.new))
        except (UnicodeDecodeError, LookupError, JsonEditError) as exc:
            raise RepairFailed(f"{self.path}: cannot change it in place: {exc}") from None
        return text.encode("utf-8")

    def verify(self, journal: Journal) -> None:
        """The new file holds the planned bytes, is plain UTF-8, and decodes to the original object with exactly
        the planned values changed."""
        if not self.written_as_planned(journal.store):
            raise RepairFailed(f"verification: the new {self.path.name} does not hold the bytes written")
        data, obj = read_state_file(self.path, journal.store)
        if foreign_encoding(data) is not None:
            raise RepairFailed(f"verification: the new {self.path.name} is not plain UTF-8")
        for c in self._values():
            if not same(obj.get(c.key), c.new):
                raise RepairFailed(f"verification: {self.path.name} holds {c.key} = {obj.get(c.key)!r}, not {c.new!r}")
        want = apply_changes(json.loads(decode_json_text(self.original)), self._values())
        if set(obj) != set(want) or any(not same(obj[k], want[k]) for k in want):  # an added key comes after global_step
            raise RepairFailed(f"verification: {self.path.name} changed other values than planned")
