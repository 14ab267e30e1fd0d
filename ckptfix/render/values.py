"""Turn decoded values into JSON-safe, terminal-sized forms."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ckptfix.formats.objects import Opaque, Refused, StorageRef, TensorRef
from ckptfix.text import clip

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


def short(v: Any, width: int = 48) -> str:
    """A compact human form: LRs in scientific notation, long lists elided."""
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.6g}" if math.isfinite(v) else repr(v)
    if isinstance(v, (list, tuple)):
        items = [short(x, width) for x in v[:4]]
        text = "[" + ", ".join(items) + (f", … (+{len(v) - 4})" if len(v) > 4 else "") + "]"
    elif isinstance(v, str) and len(v) > width:
        return clip(v, max(width, 24))  # the length is worth saying for a long string
    else:
        text = str(jsonable(v))
    return text if len(text) <= width else text[: width - 1] + "…"
