"""The command's deadline on object storage (``remote/deadline.py``): a call that does not return in time
is abandoned and named; after the deadline nothing starts; ``lifted`` waits without it (an undo)."""

from __future__ import annotations

import threading

import pytest

from ckptfix.formats.source.remote import Deadline, DeadlineExpired


def test_a_call_in_time_returns_its_value_or_raises_its_error() -> None:
    d = Deadline(30)
    assert d.call("a read", lambda: 42) == 42
    with pytest.raises(FileNotFoundError):
        d.call("a read", lambda: (_ for _ in ()).throw(FileNotFoundError("gone")))
    assert d.expired is None


def test_a_call_that_never_returns_is_abandoned_at_the_deadline() -> None:
    never = threading.Event()
    d = Deadline(0.2)
    with pytest.raises(DeadlineExpired) as caught:
        d.call("the listing of s3://b/run", never.wait)
    assert "within --timeout 0.2 s (waiting for the listing of s3://b/run)" in str(caught.value)
    assert not isinstance(caught.value, OSError)  # not "a folder that cannot be listed"
    never.set()


def test_past_the_deadline_nothing_starts_and_the_first_expiry_is_kept() -> None:
    now = [0.0]
    d = Deadline(10, clock=lambda: now[0])
    d.check("writing s3://b/x")
    now[0] = 10.0
    started: list[int] = []
    with pytest.raises(DeadlineExpired):
        d.call("reading s3://b/y", lambda: started.append(1))
    with pytest.raises(DeadlineExpired):
        d.check("writing s3://b/x")
    assert not started and d.expired is not None and d.expired.what == "reading s3://b/y"


def test_lifted_waits_without_the_deadline_in_its_thread_only() -> None:
    now = [0.0]
    d = Deadline(10, clock=lambda: now[0])
    now[0] = 11.0
    with d.lifted():
        assert d.call("putting the original back", lambda: "done") == "done"
        d.check("copying the backup back")
        other: list[BaseException] = []

        def elsewhere() -> None:
            try:
                d.check("a read in another thread")
            except DeadlineExpired as exc:
                other.append(exc)

        t = threading.Thread(target=elsewhere)
        t.start()
        t.join()
        assert other  # another thread still has the deadline
    with pytest.raises(DeadlineExpired):
        d.check("after the undo")


def test_no_deadline_calls_directly() -> None:
    d = Deadline(None)
    assert d.left() is None and d.call("x", threading.get_ident) == threading.get_ident()
