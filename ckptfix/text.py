"""Bounded text for people: a stored value can be megabytes long, what is printed never is.

Rich lays out a long cell in superlinear time (a 5 MB string in a finding's message took 16 s to print,
58 s at 10 MB); ``clip`` keeps the start and says how long the whole was.
"""

from __future__ import annotations

__all__ = ["MESSAGE_CHARS", "clip", "shown"]

#: A finding's message: a path, a key, a value or two and why (real ones are under 400 characters).
MESSAGE_CHARS = 1000


def clip(text: str, limit: int = MESSAGE_CHARS) -> str:
    """``text``, or its start and ``… (5,000,000 chars)`` when it is longer than ``limit``."""
    if len(text) <= limit:
        return text
    tail = f"… ({len(text):,} chars)"
    return text[: max(0, limit - len(tail))] + tail


def shown(value: object, limit: int = 80) -> str:
    """A value read from an untrusted file, as text safe to print: its ``repr``, which quotes a string and
    escapes every character that is not printable (control characters, ANSI escapes, bidirectional
    overrides), clipped to ``limit`` characters."""
    return clip(repr(value), limit)
