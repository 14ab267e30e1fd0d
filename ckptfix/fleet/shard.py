"""``--shard I/N``: which runs one of N machines checks.

A run goes to shard ``H mod N``, where H is the first 8 bytes of the SHA-256 of its path relative to the
root (``Run.key``): the same on every machine and Python (never ``hash()``, which is salted per process),
independent of the other runs, so each shard decides alone and N shards cover every run exactly once.
"""

from __future__ import annotations

from ckptfix.errors import UsageError
from ckptfix.records import Record

__all__ = ["Shard", "parse_shard", "shard_of"]


class Shard(Record):
    """Shard ``index`` of ``count`` (``index`` counts from 0, as Slurm's ``--array=0-3`` and a Kubernetes
    indexed Job's ``JOB_COMPLETION_INDEX``)."""

    index: int
    count: int

    def holds(self, key: str) -> bool:
        return shard_of(key, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(key: str, count: int) -> int:
    """The shard (0 .. count-1) of the run named ``key``."""
    import hashlib  # noqa: PLC0415 - 2.6 ms of OpenSSL that the one-PATH gate (which never shards) skips

    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % count


def parse_shard(text: str) -> Shard:
    """``"I/N"`` as a ``Shard``; ``UsageError`` saying what is expected."""
    i, sep, n = text.partition("/")
    try:
        index, count = int(i), int(n)
    except ValueError:
        index = count = -1
    if not sep or count < 1 or index < 0:
        raise UsageError(f"--shard {text}: expected I/N, two whole numbers with 0 <= I < N (0/4 ... 3/4)")
    if index >= count:
        raise UsageError(f"--shard {text}: I counts from 0, so it is below N (0/{count} ... {count - 1}/{count}, "
                         "as Slurm's --array=0-N-1 and a Kubernetes indexed Job's JOB_COMPLETION_INDEX)")
    return Shard(index, count)
