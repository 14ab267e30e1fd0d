"""Paths on object storage: ``pathlib``-like (``/``, ``.name``, ``.parent``), shown as their URL."""

from __future__ import annotations

__all__ = ["RemotePath"]


class RemotePath:
    """A key in one filesystem (``bucket/run/checkpoint-30``) and the URL scheme it is shown with.

    ``str()`` is the URL (``s3://bucket/run/checkpoint-30``): what messages and ``--json`` name. It
    never holds credentials (those live in the filesystem object, never in a path)."""

    __slots__ = ("key", "scheme")

    def __init__(self, scheme: str, key: str) -> None:
        self.scheme = scheme
        self.key = key.rstrip("/") or key[:1]

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def parent(self) -> RemotePath:
        # a bucket, or the root, is its own parent, as with pathlib
        return RemotePath(self.scheme, self.key.rsplit("/", 1)[0] or "/")

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(p for p in self.key.split("/") if p)

    def __truediv__(self, name: str) -> RemotePath:
        return RemotePath(self.scheme, f"{self.key.rstrip('/')}/{name}")

    def with_name(self, name: str) -> RemotePath:
        return self.parent / name

    def is_relative_to(self, other: RemotePath) -> bool:
        return self.scheme == other.scheme and (self.key == other.key or self.key.startswith(other.key.rstrip("/") + "/"))

    def __str__(self) -> str:
        return f"{self.scheme}://{self.key}"

    def __repr__(self) -> str:
        return f"RemotePath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and other.scheme == self.scheme and other.key == self.key

    def __hash__(self) -> int:
        return hash((self.scheme, self.key))

    def __lt__(self, other: RemotePath) -> bool:
        return (self.scheme, self.key) < (other.scheme, other.key)
