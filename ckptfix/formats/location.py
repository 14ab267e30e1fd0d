"""PATH on the command line: a local path, or a URL of object storage (``s3://``, ``gs://``, ``hf://``...).

Only this decides; it imports nothing heavy. A local path gets the local store and a ``pathlib.Path``
(fsspec is never imported); a URL gets ``remote.connect``'s store (fsspec and the backend imported then).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ckptfix.errors import UsageError
from ckptfix.formats.source.interface import Store
from ckptfix.formats.source.local import LOCAL

__all__ = ["DEFAULT_TIMEOUT", "is_url", "open_location", "parse_storage_options"]

#: Seconds a command on object storage waits for it in all (``--timeout``'s default, docs/remote.md):
#: a gate whose storage stops answering ends with exit 3 instead of holding the launch forever.
DEFAULT_TIMEOUT = 300.0

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(text: str) -> bool:
    """``scheme://...`` (a Windows drive ``C:\\`` or a relative path is not a URL)."""
    return bool(_URL.match(text))


def _value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    if text[:1] in "{[":
        try:
            return json.loads(text)
        except ValueError:
            raise UsageError(f"--storage-option value {text[:20]!r}... is not valid JSON") from None
    return text


def parse_storage_options(items: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` strings as fsspec keyword arguments: ``true``/``false``, numbers and JSON are
    converted; ``a.b=VALUE`` sets key ``b`` of dict ``a`` (``client_kwargs.region_name=eu-west-1``)."""
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--storage-option expects KEY=VALUE, got {key or item[:20]!r}")
        *parents, leaf = key.split(".")
        d = out
        for p in parents:
            d = d.setdefault(p, {})
            if not isinstance(d, dict):
                raise UsageError(f"--storage-option {key}: {p} is not a group of options")
        d[leaf] = _value(raw)
    return out


def open_location(text: str, storage_options: list[str] | None = None,
                  timeout: float | None = None) -> tuple[Store, Any]:
    """The store and path PATH names; ``UsageError`` for a URL ckptfix cannot open (the message says
    which extra to install, and never shows a credential), ``StorageUnreadable`` for one it cannot list.
    ``timeout``: the seconds every read of a URL's store waits for it in all (default ``DEFAULT_TIMEOUT``);
    a local path has no deadline."""
    if not is_url(text):
        if storage_options:
            raise UsageError("--storage-option applies to URLs (s3://, gs://, az://, hf://...), not to local paths")
        return LOCAL, Path(text)
    from ckptfix.formats.source.remote import connect  # noqa: PLC0415 - only for URLs: fsspec is heavy

    return connect(text, parse_storage_options(storage_options), timeout=DEFAULT_TIMEOUT if timeout is None else timeout)
