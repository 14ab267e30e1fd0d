"""Range arithmetic for object storage: pure, no I/O.

A remote read costs a round trip per *batch* (requests of one batch run concurrently) and client CPU
per *request* (s3fs: ~2 ms per ranged GET, measured). Two wanted ranges closer than ``max_gap`` bytes
are fetched as one request when reading the gap costs less than a request:
``max_gap = bandwidth × request_cost`` (``Tuning.max_gap``). A merged range longer than ``part_size``
is split into parts fetched concurrently. ``Extents`` holds what was fetched of one file and answers a
read only from bytes it holds: it never makes up (zero-fills) a byte.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

from ckptfix.records import Record

__all__ = ["Extents", "Tuning", "cut", "merge_ranges", "plan_requests", "split_range"]


class Tuning(Record):
    """The cost model and guesses of the remote planner (defaults: S3 from a machine in its region)."""

    #: client CPU of one more request in a concurrent batch (s3fs: ~2 ms per ranged GET, measured on
    #: 2 cores: 2,003 GETs 4.5 s of CPU, 25 GETs 0.9 s, bench/remote.py)
    request_cost: float = 0.002
    #: bytes per second one connection receives
    bandwidth: float = 100e6
    #: concurrent requests at most (s3fs/aiobotocore default to 10 connections)
    max_connections: int = 64
    #: a merged range longer than this is fetched as parts, concurrently
    part_size: int = 8 * 1024 * 1024
    #: speculative first reads of a torch file: data.pkl follows a 64-byte header at the start; the
    #: central directory and end records are at the end (measured: data.pkl 52.6 KB and directory
    #: 48.9 KB for a 233-parameter AdamW state; both grow ~70 bytes per storage)
    head_guess: int = 96 * 1024
    tail_guess: int = 64 * 1024
    #: files read whole when they are small (JSON, tag files, RNG pickles)
    small_file: int = 1024 * 1024

    @property
    def max_gap(self) -> int:
        """Bytes worth reading to save one request."""
        return int(self.bandwidth * self.request_cost)


def merge_ranges(ranges: Iterable[tuple[int, int]], max_gap: int) -> list[tuple[int, int]]:
    """``(start, end)`` ranges sorted, and merged where they overlap, touch or lie less than
    ``max_gap`` bytes apart. Empty ranges are dropped."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if out and start - out[-1][1] <= max_gap:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def split_range(start: int, end: int, part: int) -> list[tuple[int, int]]:
    """``[start, end)`` as consecutive parts of at most ``part`` bytes (equal sizes, so that the last
    part is not a sliver)."""
    n = max(1, -(-(end - start) // part))
    step = -(-(end - start) // n)
    return [(a, min(a + step, end)) for a in range(start, end, step)]


def plan_requests(ranges: Iterable[tuple[int, int]], tuning: Tuning) -> list[tuple[int, int]]:
    """The requests that fetch ``ranges``: merged by the cost model, long ones split into parts."""
    out: list[tuple[int, int]] = []
    for start, end in merge_ranges(ranges, tuning.max_gap):
        out += split_range(start, end, tuning.part_size)
    return out


def cut(blobs: list[tuple[int, bytes]], start: int, end: int) -> bytes | None:
    """Bytes ``[start, end)`` from ``(offset, data)`` blobs sorted by offset and not overlapping (the
    parts of one batch), or None when a byte of it is not in them."""
    i = max(0, bisect_right([b[0] for b in blobs], start) - 1)
    out, pos = [], start
    while pos < end and i < len(blobs):
        s, d = blobs[i]
        if s > pos:
            return None
        if s + len(d) > pos:
            out.append(d[pos - s:min(end, s + len(d)) - s])
            pos = min(end, s + len(d))
        i += 1
    return b"".join(out) if pos >= end else None


class Extents:
    """The bytes fetched of one file: disjoint ``(start, bytes)`` extents, sorted, adjacent ones joined."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._data: list[bytes] = []

    def __len__(self) -> int:
        return sum(len(d) for d in self._data)

    def add(self, start: int, data: bytes) -> None:
        """Keep ``data`` fetched at ``start`` (overlaps with what is held are joined)."""
        if not data:
            return
        end = start + len(data)
        i = bisect_right(self._starts, start)
        # extents overlapping or touching [start, end): from i-1 (if it reaches start) onwards
        lo = i - 1 if i > 0 and self._starts[i - 1] + len(self._data[i - 1]) >= start else i
        hi = i
        while hi < len(self._starts) and self._starts[hi] <= end:
            hi += 1
        if lo == hi:
            self._starts.insert(lo, start)
            self._data.insert(lo, data)
            return
        new_start = min(start, self._starts[lo])
        new_end = max(end, self._starts[hi - 1] + len(self._data[hi - 1]))
        buf = bytearray(new_end - new_start)
        for s, d in zip(self._starts[lo:hi], self._data[lo:hi]):
            buf[s - new_start:s - new_start + len(d)] = d
        buf[start - new_start:end - new_start] = data
        self._starts[lo:hi] = [new_start]
        self._data[lo:hi] = [bytes(buf)]

    def get(self, start: int, n: int) -> bytes | None:
        """The ``n`` bytes at ``start`` when all of them are held; None otherwise (never a filler)."""
        if n == 0:
            return b""
        i = bisect_right(self._starts, start) - 1
        if i < 0:
            return None
        s, d = self._starts[i], self._data[i]
        if start + n > s + len(d):
            return None
        return d[start - s:start - s + n]

    def missing(self, start: int, end: int) -> list[tuple[int, int]]:
        """The parts of ``[start, end)`` not held."""
        out: list[tuple[int, int]] = []
        pos = start
        i = max(0, bisect_right(self._starts, start) - 1)
        while pos < end and i < len(self._starts):
            s, e = self._starts[i], self._starts[i] + len(self._data[i])
            if e <= pos:
                i += 1
                continue
            if s >= end:
                break
            if s > pos:
                out.append((pos, s))
            pos = max(pos, e)
            i += 1
        if pos < end:
            out.append((pos, end))
        return out
