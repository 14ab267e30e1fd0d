"""Read a safetensors file's header (8-byte little-endian length + JSON) without the tensors.

``safetensors.safe_open(framework="pt")`` would import torch (3+ s); the header alone is enough to
say what a weight file holds and whether it is truncated.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from ckptfix.errors import ResourceLimit, UnreadableFile
from ckptfix.formats.limits import DEFAULT_LIMITS, Limits
from ckptfix.formats.source import LOCAL, Store
from ckptfix.records import Record

__all__ = ["SafetensorsHeader", "read_safetensors_header"]


class SafetensorsHeader(Record):
    """What a ``.safetensors`` header declares (the tensor bytes are never read)."""

    path: Path
    tensors: int
    data_bytes: int
    metadata: dict[str, str]
    bytes_read: int


def read_safetensors_header(path: Any, limits: Limits = DEFAULT_LIMITS, *, store: Store = LOCAL,
                            root: Any = None) -> SafetensorsHeader:
    """The header of a safetensors file, read through the store's guarded open (the tensors never)."""
    with store.open(path, root=root) as f:
        size = f.size
        if size < 8:
            raise UnreadableFile(path, "truncated: shorter than a safetensors header")
        (n,) = struct.unpack("<Q", f.read_at(0, 8))
        if n > limits.max_safetensors_header:
            raise ResourceLimit(path, f"safetensors header of {n:,} bytes (limit {limits.max_safetensors_header:,})")
        if 8 + n > size:
            raise UnreadableFile(path, f"truncated: header declares {n:,} bytes, file has {size - 8:,}")
        raw = f.read_at(8, n)
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UnreadableFile(path, "safetensors header is not valid JSON") from None
    except RecursionError:
        raise UnreadableFile(path, "safetensors header: JSON nested too deeply") from None
    except ValueError:  # an integer beyond Python's 4,300-digit conversion limit
        raise UnreadableFile(path, "safetensors header holds an integer too long to read") from None
    if not isinstance(header, dict):
        raise UnreadableFile(path, "safetensors header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    end = 0
    for name, info in header.items():
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_offset(o) for o in offsets)
                and offsets[0] <= offsets[1]):
            raise UnreadableFile(path, f"safetensors tensor {_short(name)} has no valid data_offsets "
                                       f"(two integers 0 <= begin <= end): {_short(offsets)}")
        end = max(end, offsets[1])
    if 8 + n + end > size:
        raise UnreadableFile(path, f"truncated: tensors need {8 + n + end:,} bytes, file has {size:,}")
    return SafetensorsHeader(path, len(header), end, metadata if isinstance(metadata, dict) else {}, 8 + n)


def _offset(v: Any) -> bool:
    # the safetensors crate reads offsets as usize: JSON true, 1.5, "x", null, Infinity are refused
    return type(v) is int and 0 <= v < 1 << 64


def _short(v: Any) -> str:
    text = repr(v) if not isinstance(v, int) or v.bit_length() < 200 else f"an integer of {v.bit_length():,} bits"
    return text if len(text) <= 80 else text[:79] + "…"
