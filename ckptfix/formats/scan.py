"""Safety scan of every pickle in a checkpoint folder, without executing anything.

Each file is classified by name, then decoded by the restricted reader (``open_torch_file`` for torch
files, ``decode_pickle`` for plain pickles) with the allowlist that fits what legitimately lives in it.
A global outside that allowlist makes the file ``unsafe`` (reported with module, name and opcode
offset); anything that cannot be decoded safely (corrupt, truncated, empty, not a torch file, beyond a
resource limit, a symlink leaving the folder, a permission error) makes it ``unreadable``.

What is scanned (``classify``):

============================  ======================  =========================================
file name                     kind                    allowlist
============================  ======================  =========================================
``optimizer*.bin``            ``optimizer``           ``TORCH_STATE``
``scheduler*.bin``            ``scheduler``           ``TORCH_STATE``
``sampler*.bin``              ``sampler``             ``TORCH_STATE`` (accelerate pickles a whole
                                                      ``SeedableRandomSampler`` here: its class is
                                                      reported, as torch's weights-only loader
                                                      would refuse it too)
``dl_state_dict*.bin``        ``dl-state``            ``TORCH_STATE``
``scaler.pt``                 ``scaler``              ``TORCH_STATE``
``random_states_*.pkl``       ``random-states``       ``RNG_STATE`` (+ exactly accelerate's numpy
                                                      globals)
``custom_checkpoint_*.pkl``   ``custom-checkpoint``   ``TORCH_STATE``; accelerate loads these with
                                                      ``weights_only=False``, so any other global
                                                      is a finding
``*.pt`` ``*.pth`` ``*.bin``  ``torch``               ``TORCH_STATE``
``*.pkl`` (other)             ``pickle``              torch zip or legacy file if it is one, else
                                                      every pickle in the file, ``TORCH_STATE``
``.metadata`` (DCP)           ``dcp-metadata``        ``DCP_METADATA`` (``allowlist.py``); a plain pickle that
                                                      torch loads with ``pickle.load``
============================  ======================  =========================================

Skipped: ``*.safetensors`` (no code path), ``*.json`` (parsed elsewhere), DCP ``*.distcp`` data
files, anything else, and ckptfix's own ``.ckptfix/`` folder.

Symlinks are followed only when the target resolves inside the checkpoint folder; otherwise the
file is ``unreadable`` and never opened. Only regular files are opened (a FIFO would block).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from ckptfix.errors import UnreadableFile, UnsafePickle
from ckptfix.formats.allowlist import (
    DCP_METADATA,
    RNG_STATE,
    TORCH_STATE,
    AllowedGlobal,
)
from ckptfix.formats.limits import DEFAULT_LIMITS, Limits
from ckptfix.formats.pickle_vm import decode_pickle, decode_whole_pickle
from ckptfix.formats.source import LOCAL, ByteSource, Store
from ckptfix.formats.torchfile import decode_torch
from ckptfix.records import Record

OK, UNSAFE, UNREADABLE = "ok", "unsafe", "unreadable"
#: The outcome of scanning one file.
ScanStatus = Literal["ok", "unsafe", "unreadable"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class ScanResult(Record):
    """The outcome of the safety scan of one pickle file."""

    path: Path
    kind: str
    status: ScanStatus
    refused: tuple[tuple[str, str, int], ...]  # (module, name, opcode offset) outside the allowlist
    message: str  # names the file and the problem ("<path>: ok (...)" when clean)
    bytes_read: int  # bytes the reader consumed; 0 when decoding failed before it could say

    @property
    def ok(self) -> bool:
        return self.status == OK


# -- classification --------------------------------------------------------------------------------
_PATTERNS: list[tuple[str, str]] = [
    ("optimizer*.bin", "optimizer"),
    ("scheduler*.bin", "scheduler"),
    ("sampler*.bin", "sampler"),
    ("dl_state_dict*.bin", "dl-state"),
    ("scaler.pt", "scaler"),
    ("random_states_*.pkl", "random-states"),
    ("custom_checkpoint_*.pkl", "custom-checkpoint"),
    (".metadata", "dcp-metadata"),
    ("*.pt", "torch"),
    ("*.pth", "torch"),
    ("*.bin", "torch"),
    ("*.pkl", "pickle"),
]
KINDS = frozenset(k for _, k in _PATTERNS)
SKIPPED_DIRS = frozenset({".ckptfix"})


def name_matches(name: str, pattern: str) -> bool:
    """``fnmatch.fnmatchcase(name, pattern)`` for the patterns of checkpoint files: literal text and ``*``
    (any run of characters, ``/`` included); no ``?`` or ``[...]``.

    fnmatch translates each pattern into a regular expression on first use: the gate's 17 patterns cost
    6.4 M instructions per run, 1.5 % of an 8 GB gate (bench/instructions.py); this costs none.
    """
    if "*" not in pattern:
        return name == pattern
    first, *middle, last = pattern.split("*")
    end = len(name) - len(last)
    if end < len(first) or not name.startswith(first) or not name.endswith(last):
        return False
    pos = len(first)
    for piece in middle:  # leftmost placement of each piece leaves the most room for the next ones
        pos = name.find(piece, pos, end)
        if pos < 0:
            return False
        pos += len(piece)
    return True


def classify(name: str) -> str | None:
    """The kind of a checkpoint file by its name, or None when it holds no pickle to scan."""
    for pattern, kind in _PATTERNS:
        if name_matches(name, pattern):
            return kind
    return None


_ALLOW: dict[str, dict[tuple[str, str], AllowedGlobal]] = {
    "random-states": RNG_STATE,
    "dcp-metadata": DCP_METADATA,
}


# -- scanning ----------------------------------------------------------------------------------------
def _result(path: Path, kind: str, status: ScanStatus, message: str, refused=(), bytes_read: int = 0) -> ScanResult:
    return ScanResult(path, kind, status, tuple(refused), f"{path}: {message}", bytes_read)


def scan_file(path: Any, kind: str | None = None, *, root: Any = None,
              limits: Limits = DEFAULT_LIMITS, store: Store = LOCAL) -> ScanResult:
    """Scan one file. ``root`` is the checkpoint folder symlinks must stay in (default: the file's folder).

    Never raises for bad input: every problem becomes an ``unsafe`` or ``unreadable`` result whose
    message names the file. The file is opened through the store's guarded open (regular files
    only, never blocking, symlinks only inside ``root``).
    """
    kind = kind or classify(path.name) or "torch"
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; one of {sorted(KINDS)}")
    root = root if root is not None else path.parent
    target = store.link_target(path)
    via = f" (symlink to {target})" if target is not None else ""
    try:
        with store.open(path, root=root) as src:
            if kind == "dcp-metadata":
                _scan_plain(src, DCP_METADATA, limits, "DCP metadata pickle", single=True)
            elif kind == "pickle" and src.read_at(0, min(2, src.size)) != b"PK":
                _scan_plain_or_legacy(src, limits)
            else:
                decode_torch(src, _ALLOW.get(kind, TORCH_STATE), limits)
            n = src.bytes_read
    except UnsafePickle as exc:
        return _result(path, kind, UNSAFE, exc.problem + via, exc.refused)
    except UnreadableFile as exc:
        return _result(path, kind, UNREADABLE, exc.problem + via)
    except PermissionError:
        return _result(path, kind, UNREADABLE, f"permission denied{via}")
    except OSError as exc:
        return _result(path, kind, UNREADABLE, f"read error{via}: {exc.strerror or exc}")
    except (RecursionError, MemoryError) as exc:  # defensive: limits should stop these first
        return _result(path, kind, UNREADABLE, f"decoding exceeded resources ({type(exc).__name__}){via}")
    return _result(path, kind, OK, f"ok ({kind}, no globals outside the allowlist){via}", (), n)


def _scan_plain(src: ByteSource, allow, limits: Limits, what: str, single: bool) -> None:
    """Decode every pickle in a plain pickle file."""
    if src.size == 0:
        raise UnreadableFile(src.path, "empty file (0 bytes)")
    data = src.read_all(limits.max_pickle_bytes, what)
    if single:
        decode_whole_pickle(src.path, data, allow, None, limits, what)
        return
    pos = 0
    while pos < len(data):
        pos = decode_pickle(src.path, data, allow, None, limits, pos, what).end


def _scan_plain_or_legacy(src: ByteSource, limits: Limits) -> None:
    """A ``*.pkl`` that is not a zip: a legacy torch file, or plain pickles (all of them are checked)."""
    if src.size == 0:
        raise UnreadableFile(src.path, "empty file (0 bytes)")
    head = src.read_at(0, min(64, src.size))
    if head[:1] == b"\x80":
        try:
            first = decode_pickle(src.path, head, {}, None, limits, 0, "pickle")
            if first.value == _LEGACY_MAGIC:
                decode_torch(src, TORCH_STATE, limits)
                return
        except UnreadableFile:
            pass  # not a legacy torch header: decode it as plain pickles below, with full reporting
    _scan_plain(src, TORCH_STATE, limits, "pickle", single=False)


def scan_folder(checkpoint_dir: Any, limits: Limits = DEFAULT_LIMITS, store: Store = LOCAL) -> list[ScanResult]:
    """Scan every pickle-bearing file under ``checkpoint_dir`` (recursively, sorted by path).

    Sub-folders are walked without following symlinked folders; ``.ckptfix/`` is skipped. A folder
    that cannot be listed gives an ``unreadable`` result of kind ``folder``.
    """
    root = checkpoint_dir
    results: list[ScanResult] = []
    pending = [root]
    while pending:
        d = pending.pop()
        try:
            entries = store.list(d)
        except PermissionError:
            results.append(_result(d, "folder", UNREADABLE, "permission denied: folder cannot be listed"))
            continue
        except OSError as exc:
            results.append(_result(d, "folder", UNREADABLE, f"folder cannot be listed: {exc.strerror or exc}"))
            continue
        for e in entries:
            p = d / e.name
            if e.is_dir:
                if e.name not in SKIPPED_DIRS:
                    pending.append(p)
                continue
            kind = classify(e.name)
            if kind is not None:
                results.append(scan_file(p, kind, root=root, limits=limits, store=store))
    results.sort(key=lambda r: str(r.path))
    return results
