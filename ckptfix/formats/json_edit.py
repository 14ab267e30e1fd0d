"""Change one top-level value of a JSON object in place, keeping every other byte (pure).

Used to rewrite a trainer's state file (SimpleTuner's ``training_state.json`` ``epoch_step``) without
re-serialising it: key order, spacing and every other value stay as the trainer wrote them.
"""

from __future__ import annotations

import json
import re

__all__ = ["JsonEditError", "insert_top_level_value", "replace_top_level_value", "top_level_text"]

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class JsonEditError(ValueError):
    """The text is not a JSON object whose key can be replaced unambiguously (the message says why)."""


def _skip(text: str, i: int) -> int:
    return _WS.match(text, i).end()  # type: ignore[union-attr]


def _spans(text: str) -> dict[str, list[tuple[int, int]]]:
    """Top-level key -> [(start, end) of its value], in the order the keys appear."""
    i = _skip(text, 0)
    if i >= len(text) or text[i] != "{":
        raise JsonEditError("not a JSON object")
    i = _skip(text, i + 1)
    out: dict[str, list[tuple[int, int]]] = {}
    if i < len(text) and text[i] == "}":
        return out
    while True:
        if i >= len(text) or text[i] != '"':
            raise JsonEditError(f"expected a key at character {i}")
        try:
            key, i = json.decoder.scanstring(text, i + 1)
        except json.JSONDecodeError as exc:
            raise JsonEditError(str(exc)) from None
        i = _skip(text, i)
        if i >= len(text) or text[i] != ":":
            raise JsonEditError(f"expected ':' at character {i}")
        start = _skip(text, i + 1)
        try:
            _value, end = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            raise JsonEditError(str(exc)) from None
        out.setdefault(key, []).append((start, end))
        i = _skip(text, end)
        if i < len(text) and text[i] == ",":
            i = _skip(text, i + 1)
            continue
        if i < len(text) and text[i] == "}":
            if text[_skip(text, i + 1):]:
                raise JsonEditError("text after the object")
            return out
        raise JsonEditError(f"expected ',' or '}}' at character {i}")


def replace_top_level_value(text: str, key: str, value: object) -> str:
    """``text`` with the value of top-level ``key`` replaced by ``json.dumps(value)``; every other byte kept.

    ``JsonEditError`` when ``text`` is not a JSON object, lacks ``key`` or holds it more than once."""
    spans = _spans(text).get(key)
    if not spans:
        raise JsonEditError(f"no top-level key {key!r}")
    if len(spans) > 1:
        raise JsonEditError(f"key {key!r} appears {len(spans)} times")
    start, end = spans[0]
    new = text[:start] + json.dumps(value) + text[end:]
    before, after = json.loads(text), json.loads(new)
    before[key] = value
    if before != after or list(before) != list(after):
        raise JsonEditError("the edited text does not parse to the planned object")
    return new


def top_level_text(text: str, key: str) -> str | None:
    """The JSON text of top-level ``key``'s value as written (``1e400``, not the ``Infinity`` it parses to); None
    when the key is absent or the text is not a JSON object ckptfix can edit."""
    try:
        spans = _spans(text).get(key)
    except JsonEditError:
        return None
    return text[spans[-1][0]:spans[-1][1]] if spans else None


def insert_top_level_value(text: str, key: str, value: object, after: str | None = None) -> str:
    """``text`` with ``"key": json.dumps(value)`` added right after top-level key ``after``'s value (before the
    first key when ``after`` is None or absent), every other byte kept. ``JsonEditError`` when ``text`` is not a
    JSON object, already holds ``key``, or holds ``after`` more than once."""
    spans = _spans(text)
    if key in spans:
        raise JsonEditError(f"key {key!r} is there already")
    member = json.dumps(key) + ": " + json.dumps(value)
    where = spans.get(after) if after is not None else None
    if where is not None and len(where) > 1:
        raise JsonEditError(f"key {after!r} appears {len(where)} times")
    if where:
        end = where[0][1]
        new = text[:end] + ", " + member + text[end:]
    else:
        start = _skip(text, 0) + 1  # just after "{"
        rest = text[_skip(text, start):]
        new = text[:start] + member + (", " if not rest.startswith("}") else "") + text[start:]
    before, got = json.loads(text), json.loads(new)
    if key not in got or got.pop(key) != value or got != before:
        raise JsonEditError("the edited text does not parse to the planned object")
    return new
