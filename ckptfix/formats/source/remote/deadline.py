"""The command's deadline on object storage (``--timeout``): no read waits past it.

A backend call that reads (a listing, a batch of ranged GETs, a size) runs in a daemon thread that the
caller waits for at most the time left; a call still running then is abandoned (a daemon thread does not
hold the process at exit) and ``DeadlineExpired`` names what was waited for. Every call after that fails
at once, so the rest of the command ends in a moment: each file not read is reported unreadable.

Writes (``repair``: a copy, a PUT, a deletion) are never abandoned half-way -- the server might apply
them later, behind ckptfix's back -- so the deadline only refuses to *start* one; each request is bounded
by its own timeouts and retries (``connect`` sets them for S3). An undo runs with the deadline lifted
(``lifted``): putting an original back must not be cut short by the deadline that stopped the repair.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

__all__ = ["Deadline", "DeadlineExpired"]

T = TypeVar("T")


class DeadlineExpired(Exception):  # noqa: N818 - named for what happened, like TimeoutError
    """The command's deadline passed while waiting for the storage (not an ``OSError``: a listing that
    times out must not read as a folder that cannot be listed)."""

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds, self.what = seconds, what
        super().__init__(f"no answer from the storage within --timeout {seconds:g} s (waiting for {what})")


class Deadline:
    """``seconds`` from its creation (None: no deadline); ``expired`` says what it first stopped waiting for."""

    def __init__(self, seconds: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._end = None if seconds is None else clock() + seconds
        self._lifted = threading.local()
        self.expired: DeadlineExpired | None = None

    def left(self) -> float | None:
        """Seconds left (None: no deadline, or lifted in this thread)."""
        if self._end is None or getattr(self._lifted, "on", False):
            return None
        return self._end - self._clock()

    def _expire(self, what: str) -> DeadlineExpired:
        exc = DeadlineExpired(self.seconds or 0.0, what)
        if self.expired is None:
            self.expired = exc
        return exc

    def check(self, what: str) -> None:
        """Refuse to start ``what`` once the deadline has passed."""
        left = self.left()
        if left is not None and left <= 0:
            raise self._expire(what)

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()``, waited for at most the time left; ``DeadlineExpired`` when it is not done by then."""
        left = self.left()
        if left is None:
            return fn()
        if left <= 0:
            raise self._expire(what)
        box: list[tuple[bool, object]] = []
        done = threading.Event()

        def run() -> None:
            try:
                box.append((True, fn()))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread, raised there
                box.append((False, exc))
            finally:
                done.set()

        threading.Thread(target=run, name="ckptfix-storage", daemon=True).start()
        if not done.wait(left):
            raise self._expire(what)
        ok, value = box[0]
        if not ok:
            raise value  # type: ignore[misc]
        return value  # type: ignore[return-value]

    @contextmanager
    def lifted(self) -> Iterator[None]:
        """No deadline for this thread's calls inside (each request keeps its own timeouts)."""
        before = getattr(self._lifted, "on", False)
        self._lifted.on = True
        try:
            yield
        finally:
            self._lifted.on = before
