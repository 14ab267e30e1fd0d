"""The ``inspect --json`` and ``explain --json`` documents: the typed results (``api/results.py``) as one
JSON document.

Their fields are documented in ``docs/json.md`` and checked against ``ckptfix/schema/ckptfix.schema.json``
by the tests; ``SCHEMA_VERSION`` changes on breaking changes only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from ckptfix.analysis.findings import Rule
from ckptfix.analysis.report import CheckpointReport, Options
from ckptfix.api.results import SCHEMA_VERSION, Result, check_result, error_result, explain_result
from ckptfix.model.checkpoint import Discovery

__all__ = ["SCHEMA_VERSION", "document", "dumps", "error_document", "explain_document"]


def dumps(result: Result) -> str:
    """A result as the JSON document ``--json`` prints (strict JSON: no NaN or Infinity)."""
    return json.dumps(result.to_json(), indent=2, allow_nan=False)


def document(disc: Discovery, reports: list[CheckpointReport], exit_code: int, command: str,
             target: object | None = None, latest: bool = False, opts: Options | None = None) -> str:
    """``inspect --json``; ``target`` (PATH as given), ``latest`` and ``opts`` make its ``next`` command."""
    return dumps(check_result(disc, reports, exit_code, command, target=target, latest=latest, opts=opts))


def explain_document(rules: Iterable[Rule]) -> str:
    """``explain --json``: the catalogue entries of ``rules``."""
    return dumps(explain_result(rules))


def error_document(command: str, exit_code: int, error: str) -> str:
    """The document ``--json`` prints when no checkpoint was read: usage error, nothing to resume,
    internal error. Same top-level keys as ``document``, no checkpoints, and the error message."""
    return dumps(error_result(command, exit_code, error))
