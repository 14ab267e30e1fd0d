"""clip: what is printed stays bounded, and says how long the whole was."""

from __future__ import annotations

from ckptfix.text import MESSAGE_CHARS, clip


def test_short_text_is_unchanged() -> None:
    assert clip("abc") == "abc"
    assert clip("x" * MESSAGE_CHARS) == "x" * MESSAGE_CHARS


def test_long_text_keeps_its_start_and_its_length() -> None:
    out = clip("y" * 5_000_000)
    assert len(out) == MESSAGE_CHARS
    assert out.startswith("yyy") and out.endswith("… (5,000,000 chars)")
    assert clip("z" * 30, 25) == "zzzzzzzzzzzzz… (30 chars)"
