"""Trainer JSON files (``training_state.json``, manifests), read with a size limit and typed errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ckptfix.errors import ResourceLimit, UnreadableFile
from ckptfix.formats.limits import DEFAULT_LIMITS, Limits


def read_json(path: Path, limits: Limits = DEFAULT_LIMITS) -> Any:
    try:
        with open(path, "rb") as f:
            data = f.read(limits.max_json_bytes + 1)
    except PermissionError:
        raise UnreadableFile(path, "permission denied") from None
    except OSError as exc:
        raise UnreadableFile(path, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limits.max_json_bytes:
        raise ResourceLimit(path, f"JSON file larger than {limits.max_json_bytes:,} bytes")
    if not data.strip():
        raise UnreadableFile(path, "empty file, expected JSON")
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UnreadableFile(path, f"not valid JSON: {exc}") from None
    except RecursionError:
        raise UnreadableFile(path, "JSON nested too deeply") from None
