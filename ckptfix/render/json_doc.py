"""The ``inspect --json`` document: the typed result (``api/results.py``) as one JSON document.

Its fields are documented in ``docs/json.md`` and checked against ``docs/ckptfix.schema.json`` by the
tests; ``SCHEMA_VERSION`` changes on breaking changes only.
"""

from __future__ import annotations

import json

from ckptfix.analysis.report import CheckpointReport
from ckptfix.api.results import SCHEMA_VERSION, Result, check_result, error_result
from ckptfix.model.checkpoint import Discovery

__all__ = ["SCHEMA_VERSION", "document", "dumps", "error_document"]


def dumps(result: Result) -> str:
    """A result as the JSON document ``--json`` prints (strict JSON: no NaN or Infinity)."""
    return json.dumps(result.to_json(), indent=2, allow_nan=False)


def document(disc: Discovery, reports: list[CheckpointReport], exit_code: int, command: str) -> str:
    return dumps(check_result(disc, reports, exit_code, command))


def error_document(command: str, exit_code: int, error: str) -> str:
    """The document ``--json`` prints when no checkpoint was read: usage error, nothing to resume,
    internal error. Same top-level keys as ``document``, no checkpoints, and the error message."""
    return dumps(error_result(command, exit_code, error))
