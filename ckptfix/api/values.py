"""Decoded values as plain JSON values: what ``--json`` and the Python API's results hold."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ckptfix.formats.objects import Opaque, Refused, StorageRef, TensorRef

__all__ = ["SCHEDULER_KEYS", "jsonable"]

#: The scheduler keys a result shows (``values``), in this order, when the state has them.
SCHEDULER_KEYS = ("last_epoch", "T_cur", "T_i", "T_0", "T_mult", "eta_min", "base_lrs", "_last_lr", "_step_count", "total_steps", "steps_per_epoch")


def jsonable(v: Any, depth: int = 0) -> Any:
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else repr(v)
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, (TensorRef, Opaque)):
        return v.describe()
    if isinstance(v, (StorageRef, Refused)):
        return repr(v)
    if isinstance(v, (bytes, bytearray)):
        return f"<{len(v)} bytes>"
    if depth > 8:
        return "..."
    if isinstance(v, dict):
        return {str(k): jsonable(x, depth + 1) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [jsonable(x, depth + 1) for x in v]
    return repr(v)
