"""Object storage through fsspec: S3, GCS, Azure, the Hugging Face Hub, ``memory://``, ``file://``.

``connect(url, options)`` opens the backend (imported only then: a local path never imports fsspec)
and returns ``(RemoteStore, RemotePath)``. Modules: ``path.py`` (``RemotePath``), ``ranges.py`` (pure
range arithmetic, the cost model, the cache), ``batch.py`` (round trips shared between checkpoints),
``store.py`` (the ``Store`` / ``ByteSource`` over fsspec). What to fetch: ``ckptfix.formats.prefetch``.
"""

from __future__ import annotations

from typing import Any

from ckptfix.errors import UsageError
from ckptfix.formats.source.remote.path import RemotePath
from ckptfix.formats.source.remote.ranges import Extents, Tuning, merge_ranges, plan_requests, split_range
from ckptfix.formats.source.remote.store import RemoteFile, RemoteStore, Stats
from ckptfix.records import replace

__all__ = ["EXTRAS", "Extents", "RemoteFile", "RemotePath", "RemoteStore", "Stats", "Tuning", "connect",
           "merge_ranges", "plan_requests", "redact", "split_range"]

#: URL scheme -> the ckptfix extra that installs its fsspec backend
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "az", "abfs": "az", "abfss": "az",
          "adl": "az", "hf": "hf"}
_S3 = ("s3", "s3a")


def _secrets(options: dict[str, Any]) -> list[str]:
    """Every string value given as a storage option (any may be a key, token or connection string)."""
    out: list[str] = []
    for v in options.values():
        if isinstance(v, dict):
            out += _secrets(v)
        elif isinstance(v, str) and len(v) >= 4:
            out.append(v)
    return out


def redact(text: str, options: dict[str, Any]) -> str:
    """``text`` with every storage-option value replaced by ``***``."""
    for s in sorted(_secrets(options), key=len, reverse=True):
        text = text.replace(s, "***")
    return text


def _install_hint(scheme: str) -> str:
    extra = EXTRAS.get(scheme)
    if extra:
        return f"pip install 'ckptfix[{extra}]'"
    return "pip install fsspec (and the fsspec backend for this scheme)"


def _tuning(given: Any, base: Tuning) -> Tuning:
    """``--storage-option ckptfix.KEY=VALUE``: ckptfix's own cost model and guesses (``Tuning``), not
    passed to the backend (``ckptfix.max_connections=8`` for an endpoint that limits connections)."""
    if given is None:
        return base
    fields = Tuning.__record_defaults__
    if not isinstance(given, dict) or set(given) - set(fields):
        bad = sorted(set(given) - set(fields)) if isinstance(given, dict) else [str(given)]
        raise UsageError(f"--storage-option ckptfix.{bad[0]}: not a ckptfix setting; one of: {', '.join(sorted(fields))}")
    out = {}
    for k, v in given.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or (k in ("max_connections", "part_size") and v < 1):
            raise UsageError(f"--storage-option ckptfix.{k}={v}: expected a positive number")
        out[k] = type(fields[k])(v)
    return replace(base, **out)


def connect(url: str, options: dict[str, Any] | None = None, tuning: Tuning = Tuning()) -> tuple[RemoteStore, RemotePath]:
    """The store and path of ``url``; ``UsageError`` naming the extra when the backend is missing."""
    options = dict(options or {})
    scheme = url.split("://", 1)[0].lower()
    tuning = _tuning(options.pop("ckptfix", None), tuning)
    try:
        from fsspec.core import url_to_fs  # noqa: PLC0415 - only for URLs
    except ImportError:
        raise UsageError(f"{scheme}:// paths need fsspec and its backend: {_install_hint(scheme)}") from None
    if scheme in _S3:  # aiobotocore keeps 10 connections unless told otherwise
        cfg = options.setdefault("config_kwargs", {})
        if isinstance(cfg, dict):
            cfg.setdefault("max_pool_connections", tuning.max_connections)
    try:
        fs, key = url_to_fs(url, **options)
    except ImportError:
        raise UsageError(f"{scheme}:// paths need a backend that is not installed: {_install_hint(scheme)}") from None
    except ValueError as exc:
        if "Protocol not known" in str(exc):
            raise UsageError(f"{scheme}:// is not a storage fsspec knows (s3://, gs://, az://, hf://, file://, memory://...)") from None
        raise UsageError(redact(f"{url}: {exc}", options)) from None
    except TypeError as exc:  # an option the backend does not take
        raise UsageError(redact(f"{scheme}://: a --storage-option is not accepted by the backend: {exc}", options)) from None
    except Exception as exc:  # noqa: BLE001 - credentials, configuration: one line, no secret
        raise UsageError(redact(f"{scheme}://: cannot open the storage: {type(exc).__name__}: {exc}", options)) from None
    store = RemoteStore(fs, scheme, tuning)
    store.secrets = _secrets(options)
    path = RemotePath(scheme, key)
    try:
        store.list_tree(path)  # PATH is listed once, here: what cannot be listed is a usage error
    except PermissionError:
        raise UsageError(f"{path}: access denied: check the credentials ({_CREDENTIALS.get(scheme, 'see docs/remote.md')})") from None
    except Exception as exc:  # noqa: BLE001 - one line naming the problem, no secret
        name = type(exc).__name__
        if "Credentials" in name:
            raise UsageError(f"{path}: no credentials found: {_CREDENTIALS.get(scheme, 'see docs/remote.md')}") from None
        raise UsageError(redact(f"{path}: cannot list: {name}: {exc}", options)[:400]) from None
    return store, path


_CREDENTIALS = {
    "s3": "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE or ~/.aws/credentials; AWS_ENDPOINT_URL "
          "for MinIO or R2; --storage-option anon=true for a public bucket",
    "gs": "GOOGLE_APPLICATION_CREDENTIALS or gcloud auth application-default login; --storage-option token=anon "
          "for a public bucket",
    "az": "AZURE_STORAGE_CONNECTION_STRING, or --storage-option account_name=... with AZURE_STORAGE_KEY / an "
          "Azure login",
    "hf": "HF_TOKEN or huggingface-cli login",
}
_CREDENTIALS["s3a"] = _CREDENTIALS["s3"]
_CREDENTIALS["gcs"] = _CREDENTIALS["gs"]
_CREDENTIALS["abfs"] = _CREDENTIALS["abfss"] = _CREDENTIALS["az"]
