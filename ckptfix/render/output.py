"""Where the human output goes: a terminal, or a pipe or file that a script reads.

``make_console(stream)`` is the Rich console of every command (``_cli.Console``):

* markup is never parsed (paths such as ``exp[lora]`` print as they are; styles come from ``Text``);
* when ``stream`` is not a terminal, a line of text is never wrapped (a summary line stays one line, however
  long the path in it), and line ends lose the spaces Rich pads tables with; panels and tables keep their
  layout at the console's width (``$COLUMNS``, else 80);
* characters the stream's encoding cannot hold (``PYTHONIOENCODING=ascii``, a cp1252 console) are written
  in ASCII (``→`` as ``->``, ``×`` as ``x``, ...), anything else as a backslash escape: never a
  ``UnicodeEncodeError`` (which ended the command with exit 5). Rich draws its boxes in ASCII then too.
"""

from __future__ import annotations

import codecs
import re
from typing import Any, TextIO

from rich.console import Console
from rich.text import Text

__all__ = ["ASCII", "ScriptableConsole", "TextStream", "fit", "make_console"]

#: The non-ASCII characters ckptfix (and Rich's boxes, ellipsis and plotext's frame) print, as ASCII: one
#: character for one where it may sit in a table or a panel (a column keeps its width), ``→`` as ``->``.
ASCII = {"→": "->", "…": "...", "×": "x", "÷": "/", "—": "-", "–": "-", "·": ".", "●": "o", "−": "-", "±": "+-",
         "≥": ">=", "≤": "<=", "≈": "~", "─": "-", "━": "-", "│": "|", "┃": "|", "╭": "+", "╮": "+", "╰": "+",
         "╯": "+", "├": "+", "┤": "+", "┬": "+", "┴": "+", "┼": "+", "╇": "+", "┡": "+", "┩": "+", "┌": "+",
         "┐": "+", "└": "+", "┘": "+"}

_PADDED = re.compile(r" +\n")


def fit(text: str, encoding: str) -> str:
    """``text`` as ``encoding`` can hold it: what it cannot, in ASCII (``ASCII``) or as a backslash escape."""
    try:
        text.encode(encoding)
        return text
    except UnicodeEncodeError:
        pass
    out = []
    for ch in text:
        try:
            ch.encode(encoding)
            out.append(ch)
        except UnicodeEncodeError:
            out.append(ASCII.get(ch) or ch.encode("ascii", "backslashreplace").decode("ascii"))
    return "".join(out)


class TextStream:
    """``stream`` for the console: text it can encode, and (``unpad``) no spaces before a line end."""

    def __init__(self, stream: TextIO, unpad: bool) -> None:
        self._stream = stream
        self._unpad = unpad
        self._spaces = ""  # trailing spaces held back until the next write says whether a line end follows
        encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            self.encoding = codecs.lookup(encoding).name
        except LookupError:  # a name Python does not know: ASCII is safe
            self.encoding = "ascii"

    def write(self, text: str) -> int:
        n = len(text)
        text = fit(text, self.encoding)
        if self._unpad:
            text = self._spaces + text
            body = text.rstrip(" ")
            self._spaces = text[len(body):]
            text = _PADDED.sub("\n", body)
        self._stream.write(text)
        return n

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return bool(getattr(self._stream, "isatty", lambda: False)())

    def __getattr__(self, name: str) -> Any:  # fileno, buffer, errors...: the stream's own
        return getattr(self._stream, name)


class ScriptableConsole(Console):
    """A Rich console whose lines of text are never wrapped when its output is not a terminal."""

    def print(self, *objects: Any, soft_wrap: bool | None = None, **kw: Any) -> None:  # noqa: A003 - Rich's name
        if soft_wrap is None and not self.is_terminal and all(isinstance(o, (str, Text)) for o in objects):
            soft_wrap = True
        super().print(*objects, soft_wrap=soft_wrap, **kw)


def make_console(stream: TextIO, **kw: Any) -> ScriptableConsole:
    """The console writing to ``stream`` (see the module docstring); ``kw``: Rich's Console options."""
    kw.setdefault("markup", False)
    tty = bool(getattr(stream, "isatty", lambda: False)())
    return ScriptableConsole(file=TextStream(stream, unpad=not tty), **kw)  # type: ignore[arg-type]
