"""The schedule options checked before any file is read (``--lr-scheduler``, ``--lr-scheduler-kwargs``).

Apart from ``schedule_config.py`` so that every run can check them without importing the trainers' schedules
(``schedulers/families``), which only a state that is not a sine state needs (``analysis/checks.py``).
"""

from __future__ import annotations

import json
from typing import Any

from ckptfix.analysis.options import Options
from ckptfix.errors import UsageError

__all__ = ["check_schedule_options", "scheduler_kwargs"]


def scheduler_kwargs(text: str | None) -> dict[str, Any] | None:
    """``--lr-scheduler-kwargs`` as a mapping; ``UsageError`` when it is not a JSON object."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise UsageError(f"--lr-scheduler-kwargs {text[:80]!r} is not JSON: give an object, e.g. "
                         "'{\"num_cycles\": 2}'") from None
    if not isinstance(value, dict):
        raise UsageError(f"--lr-scheduler-kwargs {text[:80]!r} is a JSON {type(value).__name__}, not an object")
    return value


def check_schedule_options(opts: Options) -> None:
    """``UsageError`` for a schedule option ckptfix cannot use (before any file is read)."""
    scheduler_kwargs(opts.lr_scheduler_kwargs)
    if opts.lr_scheduler is not None and not opts.lr_scheduler.strip():
        raise UsageError("--lr-scheduler: give a scheduler name (linear, cosine, ...)")
