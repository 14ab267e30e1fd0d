"""torch.distributed.checkpoint ``.metadata``: decoded without running it, dataclasses kept as records.

DCP writes ``.metadata`` with plain ``pickle.dump`` of a ``Metadata`` dataclass (and reads it back with
full ``pickle.load``). ckptfix decodes it with the ``DCP_METADATA`` allowlist (``allowlist.py``) through the
restricted decoder's ``build`` hook: each allowlisted dataclass becomes a ``DcpRecord`` holding the
fields its BUILD state gave; nothing is imported or built. Same limits, checks and error contract as
every other pickle (``pickle_vm.decode_pickle``).
"""

from __future__ import annotations

from typing import Any

from ckptfix.errors import UnreadableFile
from ckptfix.formats.allowlist import DCP_METADATA, AllowedGlobal
from ckptfix.formats.limits import DEFAULT_LIMITS, Limits
from ckptfix.formats.pickle_vm import FieldDecoder, FieldRecord, decode_whole_pickle
from ckptfix.formats.source import ByteSource

__all__ = ["DCP_RECORDS", "DcpRecord", "decode_metadata"]


class DcpRecord(FieldRecord):
    """A DCP dataclass decoded as its class name and the fields its BUILD state gave (never built)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"DcpRecord({self.kind.rsplit('.', 1)[-1]}, {self.fields!r})"


_DATACLASSES = {
    "Metadata", "TensorStorageMetadata", "BytesStorageMetadata", "ChunkStorageMetadata", "TensorProperties",
    "MetadataIndex", "StorageMeta", "_StorageInfo",
}


def _as_record(g: AllowedGlobal) -> AllowedGlobal:
    def build(args: tuple) -> DcpRecord:
        g.call(args)  # type: ignore[misc]  # the scan's argument checks (raise BadArguments)
        return DcpRecord(g.qualname)

    return AllowedGlobal(g.module, g.name, build)


DCP_RECORDS = {key: (_as_record(g) if g.name in _DATACLASSES else g) for key, g in DCP_METADATA.items()}

_TP_FIELDS = ("dtype", "layout", "requires_grad", "memory_format", "pin_memory")


class _RecordDecoder(FieldDecoder):
    """The restricted decoder, plus BUILD into a ``DcpRecord``, TensorProperties' tuple state included."""

    def record_state(self, obj: FieldRecord, state: Any) -> Any:
        if obj.kind.endswith(".TensorProperties") and isinstance(state, tuple) and len(state) == len(_TP_FIELDS):
            return dict(zip(_TP_FIELDS, state))  # its __getstate__ is a tuple, in this order
        return state


def decode_metadata(src: ByteSource, limits: Limits = DEFAULT_LIMITS) -> DcpRecord:
    """Decode a DCP ``.metadata``; raises ``UnreadableFile`` / ``UnsafePickle`` / ``ResourceLimit``."""
    path = src.path
    if src.size == 0:
        raise UnreadableFile(path, "empty file (0 bytes)")
    data = src.read_all(limits.max_pickle_bytes, "DCP metadata")
    what = "DCP metadata"
    value = decode_whole_pickle(path, data, DCP_RECORDS, None, limits, what, _RecordDecoder)
    if not isinstance(value, DcpRecord) or not value.kind.endswith(".Metadata"):
        raise UnreadableFile(path, f"{what} does not hold a Metadata object")
    return value
