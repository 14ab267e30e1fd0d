"""Turn decoded values into terminal-sized forms (their JSON-safe forms: ``api/values.py``)."""

from __future__ import annotations

import math
from typing import Any

from ckptfix.api.values import SCHEDULER_KEYS, jsonable
from ckptfix.text import clip

__all__ = ["SCHEDULER_KEYS", "jsonable", "short", "source_words"]  # SCHEDULER_KEYS, jsonable: from api/values.py (the --json data)


def short(v: Any, width: int = 48) -> str:
    """A compact human form: LRs in scientific notation, long lists elided."""
    if v is None:
        return "—"
    if isinstance(v, float):
        if not math.isfinite(v):
            return repr(v)
        text = f"{v:.6g}"
        return text + ".0" if v.is_integer() and text.lstrip("-").isdigit() else text  # 22.0 is not the int 22
    if isinstance(v, (list, tuple)):
        items = [short(x, width) for x in v[:4]]
        text = "[" + ", ".join(items) + (f", … (+{len(v) - 4})" if len(v) > 4 else "") + "]"
    elif isinstance(v, str) and len(v) > width:
        return clip(v, max(width, 24))  # the length is worth saying for a long string
    else:
        text = str(jsonable(v))
    return text if len(text) <= width else text[: width - 1] + "…"


def source_words(source: str) -> str:
    """Where N (the number of processes) comes from, in words: ``given with --num-processes``, ``from
    last_epoch 30 ÷ step 30``, ``lower bound (...)``."""
    if source.startswith("--"):
        return f"given with {source}"
    if source.startswith(("assumed", "lower bound")):
        return source
    return f"from {source}"
