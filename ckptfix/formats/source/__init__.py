"""Byte sources: the only way ckptfix reads a file (``interface.py``); the local disk (``local.py``)."""

from ckptfix.formats.source.interface import ByteSource, Entry, Store
from ckptfix.formats.source.local import LOCAL, LocalFile, LocalStore, check_inside, open_regular
from ckptfix.formats.source.window import Window

__all__ = ["LOCAL", "ByteSource", "Entry", "LocalFile", "LocalStore", "Store", "Window", "check_inside", "open_regular"]
