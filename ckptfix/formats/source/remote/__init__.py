"""Object storage through fsspec: S3, GCS, Azure, the Hugging Face Hub, ``memory://``, ``file://``.

``connect(url, options, timeout=...)`` opens the backend (imported only then: a local path never imports
fsspec) and returns ``(RemoteStore, RemotePath)``. Modules: ``path.py`` (``RemotePath``), ``ranges.py``
(pure range arithmetic, the cost model, the cache), ``batch.py`` (round trips shared between
checkpoints), ``deadline.py`` (the command's deadline), ``store.py`` (the ``Store`` / ``ByteSource`` over
fsspec). What to fetch: ``ckptfix.formats.prefetch``.
"""

from __future__ import annotations

from typing import Any

from ckptfix.errors import StorageUnreadable, UsageError
from ckptfix.formats.source.remote.deadline import Deadline, DeadlineExpired
from ckptfix.formats.source.remote.path import RemotePath
from ckptfix.formats.source.remote.ranges import Extents, Tuning, merge_ranges, plan_requests, split_range
from ckptfix.formats.source.remote.store import RemoteFile, RemoteStore, Stats
from ckptfix.records import replace

__all__ = ["EXTRAS", "S3_REQUESTS", "Deadline", "DeadlineExpired", "Extents", "RemoteFile", "RemotePath", "RemoteStore",
           "Stats", "Tuning", "connect", "merge_ranges", "plan_requests", "redact", "split_range"]

#: URL scheme -> the ckptfix extra that installs its fsspec backend
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "az", "abfs": "az", "abfss": "az",
          "adl": "az", "hf": "hf"}
_S3 = ("s3", "s3a")
#: Each S3 request on its own (botocore's Config, unless given with --storage-option config_kwargs.KEY=...):
#: seconds to connect and to wait for an answer (s3fs's defaults; never longer than --timeout), and
#: attempts in all, by botocore's standard retry mode (its backoff: up to 1 s, then 2 s...). s3fs retries a
#: timed-out request itself too: ``S3FS_RETRIES`` times at most (its default is 5, times botocore's).
S3_REQUESTS = {"connect_timeout": 5.0, "read_timeout": 15.0, "total_max_attempts": 3}
S3FS_RETRIES = 2


def _secrets(options: dict[str, Any]) -> list[str]:
    """Every string value given as a storage option (any may be a key, token or connection string)."""
    out: list[str] = []
    for v in options.values():
        if isinstance(v, dict):
            out += _secrets(v)
        elif isinstance(v, str) and len(v) >= 4:
            out.append(v)
    return out


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every storage-option value (``_secrets``) replaced by ``***``."""
    for s in sorted(secrets, key=len, reverse=True):
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


def _s3_config(options: dict[str, Any], tuning: Tuning, timeout: float | None) -> None:
    """Connections for the store's batches and bounded requests, where the user did not say otherwise."""
    cfg = options.setdefault("config_kwargs", {})
    if not isinstance(cfg, dict):
        return
    cfg.setdefault("max_pool_connections", tuning.max_connections)  # aiobotocore keeps 10 unless told
    for key in ("connect_timeout", "read_timeout"):
        cfg.setdefault(key, min(S3_REQUESTS[key], timeout) if timeout is not None else S3_REQUESTS[key])
    cfg.setdefault("retries", {"mode": "standard", "total_max_attempts": S3_REQUESTS["total_max_attempts"]})


def _list_failed(path: RemotePath, exc: BaseException, scheme: str, secrets: list[str]) -> Exception:
    """A listing that failed: the storage cannot be read (exit 3, ``StorageUnreadable``), unless the backend
    rejected an option before asking the server anything (a usage error)."""
    if isinstance(exc, DeadlineExpired):
        return StorageUnreadable(f"{path}: {exc}; nothing was read. Check the endpoint, or raise --timeout for a "
                                 "slow storage")
    if isinstance(exc, PermissionError):
        return StorageUnreadable(f"{path}: access denied: check the credentials ({_CREDENTIALS.get(scheme, 'see docs/remote.md')})")
    name = type(exc).__name__
    if "Credentials" in name:
        return StorageUnreadable(f"{path}: no credentials found: {_CREDENTIALS.get(scheme, 'see docs/remote.md')}")
    text = redact(f"{path}: cannot list: {name}: {exc}", secrets)[:400]
    return UsageError(text) if isinstance(exc, (ValueError, TypeError)) else StorageUnreadable(text)


def connect(url: str, options: dict[str, Any] | None = None, tuning: Tuning = Tuning(),
            timeout: float | None = None) -> tuple[RemoteStore, RemotePath]:
    """The store and path of ``url``, PATH listed; every read of the store waits at most until ``timeout``
    seconds from now (None: no deadline). ``UsageError`` naming the extra when the backend is missing, or
    for an option it rejects; ``StorageUnreadable`` when PATH cannot be listed (refused, unreachable,
    no answer in time)."""
    deadline = Deadline(timeout)
    options = dict(options or {})
    scheme = url.split("://", 1)[0].lower()
    tuning = _tuning(options.pop("ckptfix", None), tuning)
    secrets = _secrets(options)  # the user's values only: never ckptfix's own defaults below
    try:
        from fsspec.core import url_to_fs  # noqa: PLC0415 - only for URLs
    except ImportError:
        raise UsageError(f"{scheme}:// paths need fsspec and its backend: {_install_hint(scheme)}") from None
    if scheme in _S3:
        _s3_config(options, tuning, timeout)
    try:
        fs, key = url_to_fs(url, **options)
    except ImportError:
        raise UsageError(f"{scheme}:// paths need a backend that is not installed: {_install_hint(scheme)}") from None
    except ValueError as exc:
        if "Protocol not known" in str(exc):
            raise UsageError(f"{scheme}:// is not a storage fsspec knows (s3://, gs://, az://, hf://, file://, memory://...)") from None
        raise UsageError(redact(f"{url}: {exc}", secrets)) from None
    except TypeError as exc:  # an option the backend does not take
        raise UsageError(redact(f"{scheme}://: a --storage-option is not accepted by the backend: {exc}", secrets)) from None
    except Exception as exc:  # noqa: BLE001 - credentials, configuration: one line, no secret
        raise UsageError(redact(f"{scheme}://: cannot open the storage: {type(exc).__name__}: {exc}", secrets)) from None
    if scheme in _S3 and isinstance(getattr(fs, "retries", None), int):
        fs.retries = min(fs.retries, S3FS_RETRIES)
    store = RemoteStore(fs, scheme, tuning, deadline=deadline)
    store.secrets = secrets
    path = RemotePath(scheme, key)
    try:
        store.list_tree(path)  # PATH is listed once, here
    except Exception as exc:  # noqa: BLE001 - one line naming the problem, no secret
        raise _list_failed(path, exc, scheme, secrets) from None
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
