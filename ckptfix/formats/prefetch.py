"""Which bytes of a checkpoint's files ckptfix's readers will read: guessed from a listing, then
told by the bytes fetched. Pure: no I/O; a remote store fetches what these functions name.

Round 1 (``first_reads``, from the listing alone): a torch file's head (``data.pkl`` is its first entry,
from byte ~64) and tail (end records and central directory), each ``Tuning.head_guess`` /
``tail_guess`` bytes; small files the readers read whole (JSON, RNG pickles, ``latest``), whole; a
safetensors file's head (its header). Round 2 (``next_reads``, from what round 1 fetched): only where a
guess fell short, the rest — the central directory and ``data.pkl`` located by ``ZipDirectory`` itself
on the fetched bytes, each checked against the limits before it is asked for. The step storages
(round 3) are named by ``TorchFile.read_scalars`` once ``data.pkl`` is decoded: every counter is read.
"""

from __future__ import annotations

import struct
from typing import Any

from ckptfix.errors import UnreadableFile
from ckptfix.formats.limits import DEFAULT_LIMITS, Limits
from ckptfix.formats.scan import classify
from ckptfix.formats.source import ByteSource
from ckptfix.formats.source.interface import ReadPlan
from ckptfix.formats.source.remote.ranges import Extents, Tuning
from ckptfix.formats.torchfile import data_pkl_entry
from ckptfix.formats.zipdir import ZipDirectory, entry_span

__all__ = ["TORCH_READS", "Fetched", "NotFetched", "TorchReads", "first_reads", "next_reads"]

# data.pkl per byte of central directory, measured on every torch file in fixtures/ and bench/
# (AdamW, LoRA, 40 optimizer families): 0.4-1.3; guessed at twice the directory when the directory
# itself was not fetched yet (one round cannot learn both).
_PICKLE_PER_DIRECTORY = 2
_ZIP_HEAD = 256  # local header + torch's padding: data.pkl starts at byte ~64


class NotFetched(Exception):
    """A read of bytes that were not fetched (planning never fetches)."""

    def __init__(self, offset: int, n: int) -> None:
        super().__init__(offset, n)
        self.offset, self.n = offset, n


class Fetched(ByteSource):
    """The bytes fetched so far of one file, seen as the file: a read of anything else raises
    ``NotFetched`` (never a filler byte)."""

    def __init__(self, path: Any, size: int, extents: Extents) -> None:
        self.path, self.size, self._extents = path, size, extents

    def read_at(self, offset: int, n: int) -> bytes:
        if offset < 0 or n < 0 or offset + n > self.size:
            raise self.truncated(offset, n)
        data = self._extents.get(offset, n)
        if data is None:
            raise NotFetched(offset, n)
        return data


# the small files the layouts read (model/readers.py, layouts/hf_trainer.py, layouts/deepspeed.py);
# others (checkpoint_manifest.json, .guard) are only looked for in the listing
_READ_WHOLE = frozenset({"training_state.json", "trainer_state.json", "config.json", "latest"})


def _reads_whole(name: str) -> bool:
    return name in _READ_WHOLE or classify(name) in ("random-states", "pickle", "dcp-metadata")


def _torch_like(name: str) -> bool:
    return classify(name) not in (None, "random-states", "pickle", "dcp-metadata")


def first_reads(name: str, size: int, tuning: Tuning) -> list[tuple[int, int]]:
    """Round 1 for one file, from its name and listed size: ``(start, end)`` ranges (may be empty)."""
    if size <= 0:
        return []
    whole = _reads_whole(name)
    if whole and size <= tuning.small_file:
        return [(0, size)]
    if name.endswith(".safetensors") or (whole and not classify(name)):
        return [(0, min(size, tuning.head_guess))]
    if whole or _torch_like(name):  # a pickle may be a torch zip (accelerate's RNG states are)
        if size <= tuning.head_guess + tuning.tail_guess:
            return [(0, size)]
        return [(0, tuning.head_guess), (size - tuning.tail_guess, size)]
    return []


def next_reads(name: str, size: int, fetched: Extents, limits: Limits, path: Any = None) -> list[tuple[int, int]]:
    """Round 2 for one file: what its reader will read that round 1 did not fetch, as far as the fetched
    bytes tell (nothing past a limit: the reader refuses those files without reading them)."""
    if size <= 0:
        return []
    view = Fetched(path if path is not None else name, size, fetched)
    try:
        if name.endswith(".safetensors"):
            (n,) = struct.unpack("<Q", view.read_at(0, 8)) if size >= 8 else (0,)
            return fetched.missing(8, 8 + n) if 8 + n <= size and n <= limits.max_safetensors_header else []
        if not (_reads_whole(name) or _torch_like(name)):
            return []
        head = view.read_at(0, min(size, 16))
        if head.startswith(b"PK"):
            return _zip_reads(view, fetched, limits)
        return fetched.missing(0, min(size, limits.max_pickle_bytes))  # a plain or legacy pickle: read whole
    except NotFetched as miss:
        return [(miss.offset, miss.offset + miss.n)]
    except (UnreadableFile, struct.error):
        return []  # the reader reports it, from the bytes it reads


def _zip_reads(view: Fetched, fetched: Extents, limits: Limits) -> list[tuple[int, int]]:
    try:
        zd = ZipDirectory(view, limits)
    except NotFetched as miss:
        # the directory (or a zip64 record) lies before the tail fetched: fetch it, and data.pkl's
        # likely extent with it
        want = [(miss.offset, miss.offset + miss.n)]
        guess = min(miss.offset, _ZIP_HEAD + _PICKLE_PER_DIRECTORY * miss.n)
        return fetched.missing(0, guess) + want
    entry, prefix = data_pkl_entry(zd)
    if entry.compressed_size > limits.max_pickle_bytes:
        return []
    wants = [entry_span(entry, view.size)]
    byteorder = zd.entries.get(f"{prefix}/byteorder")
    if byteorder is not None:
        wants.append(entry_span(byteorder, view.size))
    return [m for start, end in wants for m in fetched.missing(start, end)]


class TorchReads(ReadPlan):
    """What ckptfix's readers read of a checkpoint's files under ``limits`` (``first_reads``, ``next_reads``),
    as the ``ReadPlan`` a store that fetches ahead asks (``Store.load_together``)."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits

    def first_reads(self, name: str, size: int, tuning: Tuning) -> list[tuple[int, int]]:
        return first_reads(name, size, tuning)

    def next_reads(self, name: str, size: int, fetched: Extents, path: Any) -> list[tuple[int, int]]:
        return next_reads(name, size, fetched, self.limits, path)


TORCH_READS = TorchReads()
