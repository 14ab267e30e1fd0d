"""Trainer JSON files (``training_state.json``, manifests), read with a size limit and typed errors.

ckptfix parses what the file says whatever its encoding (``json.loads`` of bytes detects UTF-16/32 and a
UTF-8 byte-order mark), and tells separately how the file is encoded (``foreign_encoding``): the trainers
read these files as UTF-8 text without a byte-order mark, so a file ckptfix reads may still be one the
trainer cannot. ``json_kind`` says what a value is, as the trainer's arithmetic sees it.
"""

from __future__ import annotations

import codecs
import json
import math
from typing import Any

from ckptfix.errors import UnreadableFile
from ckptfix.formats.limits import DEFAULT_LIMITS, Limits
from ckptfix.formats.source import LOCAL, Store

__all__ = ["JSON_KINDS", "decode_json_text", "foreign_encoding", "json_kind", "parse_json", "read_json"]

#: What ``json_kind`` returns: ``int`` a JSON integer (>= 0), ``negative`` one below 0, ``missing`` no such key,
#: ``bool``, ``null``, ``string``, ``float`` an integral number written as a float (``22.0``), ``fraction``
#: (``30.5``), ``non-finite`` (``NaN``, ``Infinity``, ``1e400``), ``list``, ``object``.
JSON_KINDS = ("int", "negative", "missing", "bool", "null", "string", "float", "fraction", "non-finite", "list",
              "object")

_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32-LE"), (codecs.BOM_UTF32_BE, "UTF-32-BE"), (codecs.BOM_UTF8, "UTF-8 with a "
         "byte-order mark"), (codecs.BOM_UTF16_LE, "UTF-16-LE"), (codecs.BOM_UTF16_BE, "UTF-16-BE"))
_CODECS = {"utf-8-sig": "UTF-8 with a byte-order mark", "utf-16-le": "UTF-16-LE", "utf-16-be": "UTF-16-BE",
           "utf-16": "UTF-16", "utf-32-le": "UTF-32-LE", "utf-32-be": "UTF-32-BE", "utf-32": "UTF-32"}


def read_json(path: Any, limits: Limits = DEFAULT_LIMITS, *, store: Store = LOCAL, root: Any = None) -> Any:
    """Read and parse a JSON file through the store's guarded open."""
    data = store.read(path, limits.max_json_bytes, "JSON file", root=root)
    return parse_json(path, data)


def parse_json(path: Any, data: bytes) -> Any:
    """Parse JSON bytes; ``UnreadableFile`` naming ``path`` for anything that is not valid JSON."""
    if not data.strip():
        raise UnreadableFile(path, "empty file, expected JSON")
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UnreadableFile(path, f"not valid JSON: {exc}") from None
    except RecursionError:
        raise UnreadableFile(path, "JSON nested too deeply") from None
    except ValueError:  # an integer beyond Python's 4,300-digit conversion limit
        raise UnreadableFile(path, "holds an integer too long to read (over 4,300 digits)") from None


def foreign_encoding(data: bytes) -> str | None:
    """How ``data`` is encoded when it is not plain UTF-8 without a byte-order mark ("UTF-16-LE", "UTF-8 with a
    byte-order mark", ...), as ``json.loads`` detects it; None for plain UTF-8 (what the trainers read)."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    if data[:1] and not data[0] or data[1:2] == b"\0":  # no BOM, but NUL bytes around the first character
        return _CODECS.get(json.detect_encoding(data), None)
    return None


def decode_json_text(data: bytes) -> str:
    """The text of a JSON file in any encoding ``json.loads`` reads (``UnicodeDecodeError`` otherwise)."""
    return data.decode(json.detect_encoding(data))


def json_kind(value: Any, present: bool = True) -> str:
    """What a decoded JSON value is, for a trainer that computes with it (see ``JSON_KINDS``)."""
    if not present:
        return "missing"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if value >= 0 else "negative"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "non-finite"
        return "float" if value.is_integer() else "fraction"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list) else "object"
