"""Reading a decoded scheduler state: the fields every torch ``LRScheduler`` keeps, coerced, and a family's
parameters, each checked for the type torch writes. Never raises: what cannot be used is None, with a
sentence in the evidence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ckptfix.coerce import as_int, as_real, as_reals

from .interface import FamilyMatch

__all__ = ["has_keys", "lacks_keys", "match_from", "param_int", "param_real", "param_str", "short"]


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def has_keys(state: Mapping[str, Any], keys: Sequence[str]) -> bool:
    return all(k in state for k in keys)


def lacks_keys(state: Mapping[str, Any], keys: Sequence[str]) -> bool:
    return not any(k in state for k in keys)


def param_int(state: Mapping[str, Any], key: str, evidence: list[str], minimum: int | None = None) -> int | None:
    """``state[key]`` as an int (an int-valued float counts, with a note), else None and a sentence."""
    if key not in state:
        evidence.append(f"no {key!r}.")
        return None
    v = as_int(state[key])
    if v is None or (minimum is not None and v < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        evidence.append(f"{key}={short(state[key])} is not an integer{bound}.")
        return None
    if not isinstance(state[key], int):
        evidence.append(f"{key} is stored as a float ({state[key]!r}).")
    return v


def param_real(state: Mapping[str, Any], key: str, evidence: list[str]) -> float | None:
    if key not in state:
        evidence.append(f"no {key!r}.")
        return None
    v = as_real(state[key])
    if v is None:
        evidence.append(f"{key}={short(state[key])} is not a finite number.")
    return v


def param_str(state: Mapping[str, Any], key: str, evidence: list[str], allowed: Sequence[str]) -> str | None:
    v = state.get(key)
    if not isinstance(v, str) or v not in allowed:
        evidence.append(f"{key}={short(v)} is not one of {', '.join(allowed)}.")
        return None
    return v


def _lrs(state: Mapping[str, Any], key: str, evidence: list[str]) -> tuple[float, ...] | None:
    if key not in state:
        evidence.append(f"no {key!r}.")
        return None
    v = as_reals(state[key])
    if v is None:
        what = "tensors" if any(hasattr(x, "storage") for x in state[key] or ()) else short(state[key])
        evidence.append(f"{key} is not a list of finite numbers ({what}): not read.")
        return None
    return tuple(v)


def match_from(state: Mapping[str, Any], family: str, torch_class: str, params: Mapping[str, Any],
               evidence: list[str], *, children: tuple[FamilyMatch, ...] = (), also: tuple[str, ...] = (),
               position: int | None | str = "last_epoch", truncated: bool = False) -> FamilyMatch:
    """A match with the common fields read from ``state`` (``position`` a key, or a value for composites)."""
    if isinstance(position, str):
        pos = param_int(state, position, evidence, -1) if position in state else None
        if position not in state:
            evidence.append(f"no {position!r}: no position.")
    else:
        pos = position
    step_count = as_int(state.get("_step_count")) if "_step_count" in state else None
    base = _lrs(state, "base_lrs", evidence) if "base_lrs" in state else None
    last = _lrs(state, "_last_lr", evidence)
    return FamilyMatch(family, torch_class, pos, step_count, base, last, dict(params), children, tuple(evidence), also,
                       truncated)
