"""The second verification of what ``repair`` writes: ``torch.load(weights_only=True)``, when torch is installed.

ckptfix writes torch's format itself (``formats/torch_writer.py``) and always verifies a written file
with its own reader; torch is an optional extra (``pip install 'ckptfix[torch]'``). When torch is
importable, every written file is also loaded the way accelerate will load it.
"""

from __future__ import annotations

import importlib.util
from collections import OrderedDict
from pathlib import Path
from typing import IO, Any

from ckptfix.formats.objects import TorchDevice, TorchSize

__all__ = ["TORCH_EXTRA", "as_read", "torch_installed", "torch_load"]

#: What to install for the torch cross-check (and the reference ``Sine`` class).
TORCH_EXTRA = "pip install 'ckptfix[torch]'"


def torch_installed() -> bool:
    """Whether ``import torch`` would find a module (without importing it: 3 s and 220 MB)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def torch_load(path: Path | IO[bytes], **kwargs: Any) -> Any:
    """``torch.load(path, weights_only=True, **kwargs)`` (a path or the bytes of a file); only call it when
    ``torch_installed()``."""
    import torch  # noqa: PLC0415 - optional extra, 3 s to import: only to verify a file repair wrote

    return torch.load(path, weights_only=True, **kwargs)


def as_read(obj: Any) -> Any:
    """What ``torch.load`` gave, in the types ckptfix's reader gives (``torch.Size`` -> ``TorchSize``,
    ``torch.device`` -> ``TorchDevice``; containers rebuilt with their own type), so that the two reads
    compare with ``same``. Only called on what ``torch_load`` returned (torch is imported then)."""
    t = type(obj)
    if t is dict or t is OrderedDict:
        return t((k, as_read(v)) for k, v in obj.items())
    if t is list:
        return [as_read(x) for x in obj]
    if t is tuple:
        return tuple(as_read(x) for x in obj)
    name = f"{t.__module__}.{t.__qualname__}"
    if name == "torch.Size":
        return TorchSize(obj)
    if name == "torch.device":
        return TorchDevice(obj.__reduce__()[1])
    return obj
