"""Round trips shared by checkpoints read at the same time.

``Batcher.run_each`` runs one function per checkpoint, each in its own thread; every read that misses
the cache goes to ``Batcher.fetch``, which waits until every running thread is either waiting for bytes
or finished, then sends all their requests as one batch: one round trip for all, however many
checkpoints (the decoding itself stays on one core: the threads take turns under the GIL).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

__all__ = ["Batcher"]

T = TypeVar("T")
Want = Any  # what the dispatch takes: (file key, start, end, errors)
Dispatch = Callable[[list[Want]], None]  # fetches a batch into the cache; raises nothing


class _Ask:
    __slots__ = ("done", "wants")

    def __init__(self, wants: list[Want]) -> None:
        self.wants, self.done = wants, False


class Batcher:
    """Joins the requests of concurrently running readers into shared batches (see the module doc)."""

    def __init__(self, dispatch: Dispatch) -> None:
        self._dispatch = dispatch
        self._cond = threading.Condition()
        self._members = 0  # threads of the running ``run_each``
        self._member_ids: set[int] = set()
        self._waiting: list[_Ask] = []

    def fetch(self, wants: Sequence[Want]) -> None:
        """Fetch ``wants`` into the cache: at once outside ``run_each``, else with the others' requests."""
        wants = list(wants)
        if not wants:
            return
        with self._cond:
            if threading.get_ident() not in self._member_ids:
                self._dispatch(wants)
                return
            ask = _Ask(wants)
            self._waiting.append(ask)
            self._flush_if_all_wait()
            while not ask.done:
                self._cond.wait()

    def _flush_if_all_wait(self) -> None:
        """Send the pending requests when no member is still working (the lock is held)."""
        if not self._waiting or len(self._waiting) < self._members:
            return
        asks, self._waiting = self._waiting, []
        try:
            self._dispatch([w for a in asks for w in a.wants])
        finally:
            for a in asks:
                a.done = True
            self._cond.notify_all()

    def run_each(self, fn: Callable[[Any], T], items: Iterable[Any], workers: int) -> list[T]:
        """``fn(item)`` for every item, in order, ``workers`` at a time; the first exception is re-raised."""
        todo = list(enumerate(items))
        results: list[Any] = [None] * len(todo)
        errors: list[BaseException] = []
        n = max(1, min(workers, len(todo)))
        lock = threading.Lock()

        def work() -> None:
            try:
                while True:
                    with lock:
                        if not todo or errors:
                            return
                        i, item = todo.pop(0)
                    try:
                        results[i] = fn(item)
                    except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                        with lock:
                            errors.append(exc)
            finally:
                with self._cond:
                    self._members -= 1
                    self._member_ids.discard(threading.get_ident())
                    self._flush_if_all_wait()

        with self._cond:
            self._members += n
        started = threading.Barrier(n + 1)

        def member() -> None:
            with self._cond:
                self._member_ids.add(threading.get_ident())
            started.wait()
            work()

        threads = [threading.Thread(target=member, daemon=True) for _ in range(n)]
        for t in threads:
            t.start()
        started.wait()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return results
