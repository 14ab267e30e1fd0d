"""A slice of another source seen as a whole file (one ``torch.save`` blob inside a DCP shard)."""

from __future__ import annotations

from ckptfix.errors import UnreadableFile
from ckptfix.formats.source.interface import ByteSource

__all__ = ["Window"]


class Window(ByteSource):
    """``length`` bytes at ``start`` of ``inner``; reads and byte counts go to ``inner``."""

    def __init__(self, inner: ByteSource, start: int, length: int):
        if start < 0 or length <= 0 or start + length > inner.size:
            raise UnreadableFile(inner.path, f"item at {start}+{length} lies outside the {inner.size}-byte file (truncated?)")
        self.inner, self.start, self.size, self.path = inner, start, length, inner.path

    def read_at(self, offset: int, n: int) -> bytes:
        if offset < 0 or n < 0 or offset + n > self.size:
            raise UnreadableFile(self.path, f"truncated item: needs bytes {offset}..{offset + n} of {self.size}")
        return self.inner.read_at(self.start + offset, n)

    @property
    def wants_prefetch(self) -> bool:  # type: ignore[override]
        return self.inner.wants_prefetch

    def prefetch(self, ranges) -> None:
        self.inner.prefetch([(self.start + a, self.start + min(b, self.size)) for a, b in ranges if a < self.size])

    @property
    def bytes_read(self) -> int:  # type: ignore[override]
        return self.inner.bytes_read

    @property
    def requests(self) -> int:  # type: ignore[override]
        return self.inner.requests

    def close(self) -> None:
        self.inner.close()
