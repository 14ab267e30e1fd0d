"""Where a pickle keeps the float values of given dict keys: byte offsets to patch in place.

torch pickles each param group's ``lr`` as a BINFLOAT opcode (``G`` + an 8-byte big-endian double)
right after the key. ``float_sites`` walks the opcodes (``pickletools.genops``: parsing only, nothing
is built), finds the value after every key it is asked about (a string literal, or a memo GET of a
memoized one), and says for each whether its 8 bytes can be replaced without changing anything else.
"""

from __future__ import annotations

import pickletools
from typing import Any

from ckptfix.records import Record

__all__ = ["FloatSite", "float_sites"]

_STRING_OPS = frozenset({"BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "UNICODE"})
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_MEMO_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"})


class FloatSite(Record):
    """The value after one occurrence of a key."""

    key: str
    offset: int | None  # offset in the pickle of the value's 8 bytes, when it is a BINFLOAT
    problem: str | None  # why this value cannot be patched in place; None when it can


def float_sites(data: bytes, keys: frozenset[str] | tuple[str, ...]) -> list[FloatSite]:
    """Every push of one of ``keys`` (literal or memo GET), in stream order, with the value after it.

    ``ValueError`` when the stream cannot be walked opcode by opcode."""
    ops = [(op.name, arg, pos) for op, arg, pos in pickletools.genops(data)]
    memo: dict[Any, str | None] = {}
    top: str | None = None  # the key string the last opcode pushed, if any
    sites: list[FloatSite] = []
    for k, (name, arg, _pos) in enumerate(ops):
        if name in _MEMO_OPS:
            memo[len(memo) if name == "MEMOIZE" else arg] = top
            continue
        if name == "FRAME":
            continue
        if name in _STRING_OPS:
            top = arg if arg in keys else None
        elif name in _GET_OPS:
            top = memo.get(arg)
        else:
            top = None
        if top is not None:
            sites.append(_value_after(ops, k + 1, top))
    return sites


def _value_after(ops: list[tuple[str, Any, int]], j: int, key: str) -> FloatSite:
    while j < len(ops) and (ops[j][0] in _MEMO_OPS or ops[j][0] == "FRAME"):
        j += 1  # the key itself memoized
    if j >= len(ops):
        return FloatSite(key, None, "the pickle ends after the key")
    name, _arg, pos = ops[j]
    if name != "BINFLOAT":
        what = "a memo reference (a value shared with another place)" if name in _GET_OPS else f"{name}, not a float literal"
        return FloatSite(key, None, f"its value is {what}")
    n = j + 1
    while n < len(ops) and ops[n][0] == "FRAME":
        n += 1
    if n < len(ops) and ops[n][0] in _MEMO_OPS:
        return FloatSite(key, pos + 1, "its float is memoized, so other values may share it")
    return FloatSite(key, pos + 1, None)
