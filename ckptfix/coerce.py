"""Tolerant reads of values decoded from untrusted files: a number, or None — never an exception."""

from __future__ import annotations

import math
from typing import Any


def as_int(v: Any) -> int | None:
    """An int, or an integral finite float; None for anything else (bools included)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        return int(v)
    return None


def as_real(v: Any) -> float | None:
    """A finite float from an int or float; None for anything else (bools, NaN, inf, huge ints)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def as_reals(v: Any) -> list[float] | None:
    """A non-empty list of finite numbers, or None."""
    if not isinstance(v, (list, tuple)) or not v:
        return None
    out = [as_real(x) for x in v]
    return None if any(x is None for x in out) else out  # type: ignore[return-value]


def close(a: Any, b: float) -> bool:
    """``a`` is a finite number equal to ``b`` up to float noise (for values the user typed)."""
    x = as_real(a)
    return x is not None and math.isclose(x, b, rel_tol=1e-9, abs_tol=1e-12)
