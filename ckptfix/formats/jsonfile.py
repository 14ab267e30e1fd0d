"""Trainer JSON files (``training_state.json``, manifests), read with a size limit and typed errors."""

from __future__ import annotations

import json
from typing import Any

from ckptfix.errors import UnreadableFile
from ckptfix.formats.limits import DEFAULT_LIMITS, Limits
from ckptfix.formats.source import LOCAL, Store

__all__ = ["parse_json", "read_json"]


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
