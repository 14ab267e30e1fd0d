"""A pickled configuration object decoded as inert records, never run: the HF Trainer's ``training_args.bin``.

The Trainer saves ``torch.save(self.args, "training_args.bin")`` (transformers 5.24.0 ``trainer.py`` L4185): a
full pickle of ``TrainingArguments``, whose loading would import transformers and accelerate and build their
objects. ckptfix decodes it with the restricted decoder and its own table, ``CONFIG_OBJECTS``: the torch globals
of ``allowlist.TORCH_STATE`` (``torch.device``), each configuration class as a ``ConfigRecord`` (its class name
and the fields its ``BUILD`` state gives: what ``NEWOBJ`` with no argument then ``__setstate__``/``__dict__``
would have held), and each enum as an ``EnumValue`` (its class name and value). Nothing is imported or built. A
global outside the table is refused and reported (``UnsafePickle``), as everywhere else.

The table lists the globals found in ``training_args.bin`` files written by transformers 4.30.2, 4.40.2, 4.46.3,
4.50.3, 4.57.6 and 5.24.0 (``fixtures/run_configs``, ``fixtures/trainers/hf-trainer-tf*``), plus the enums
``fsdp`` and ``debug`` hold when set. A subclass of ``TrainingArguments`` from another package (TRL's configs) is
refused by name until it is listed here.
"""

from __future__ import annotations

from typing import Any

from ckptfix.errors import UnreadableFile
from ckptfix.formats.allowlist import TORCH_STATE, AllowedGlobal, BadArguments
from ckptfix.formats.limits import DEFAULT_LIMITS, Limits
from ckptfix.formats.pickle_vm import FieldDecoder, FieldRecord, decode_whole_pickle
from ckptfix.formats.source import LOCAL, ByteSource, Store
from ckptfix.formats.torchfile import data_pkl_entry
from ckptfix.formats.zipdir import LOCAL_SIG, ZipDirectory
from ckptfix.records import Record

__all__ = ["CONFIG_OBJECTS", "ConfigRecord", "EnumValue", "decode_config_pickle", "read_config_pickle"]


class ConfigRecord(FieldRecord):
    """A configuration object decoded as its class name and the fields its BUILD state gave (never built)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"ConfigRecord({self.kind.rsplit('.', 1)[-1]}, {len(self.fields)} fields)"


class EnumValue(Record):
    """An enum member named in a pickle: its class and its value (``SchedulerType('cosine')`` -> ``'cosine'``)."""

    kind: str
    value: str | int


def _record(qualname: str) -> AllowedGlobal:
    module, name = qualname.rsplit(".", 1)

    def build(args: tuple) -> ConfigRecord:  # NEWOBJ with no arguments, then BUILD with its __dict__
        if args:
            raise BadArguments(f"{qualname} is created without arguments")
        return ConfigRecord(qualname)

    return AllowedGlobal(module, name, build)


def _enum(qualname: str) -> AllowedGlobal:
    module, name = qualname.rsplit(".", 1)

    def build(args: tuple) -> EnumValue:  # REDUCE (cls, (value,)): Enum.__reduce_ex__
        if len(args) != 1 or isinstance(args[0], bool) or not isinstance(args[0], (int, str)):
            raise BadArguments(f"{qualname} expects one int or str value")
        return EnumValue(qualname, args[0])

    return AllowedGlobal(module, name, build)


_RECORDS = (
    "transformers.training_args.TrainingArguments",
    "transformers.training_args_seq2seq.Seq2SeqTrainingArguments",
    "transformers.trainer_pt_utils.AcceleratorConfig",
    "accelerate.state.PartialState",
)
_ENUMS = (
    "transformers.trainer_utils.SchedulerType",
    "transformers.trainer_utils.IntervalStrategy",
    "transformers.trainer_utils.SaveStrategy",
    "transformers.trainer_utils.HubStrategy",
    "transformers.trainer_utils.FSDPOption",
    "transformers.debug_utils.DebugOption",
    "transformers.training_args.OptimizerNames",
    "accelerate.utils.dataclasses.DistributedType",
)
CONFIG_OBJECTS: dict[tuple[str, str], AllowedGlobal] = {
    **TORCH_STATE,
    **{(g.module, g.name): g for g in map(_record, _RECORDS)},
    **{(g.module, g.name): g for g in map(_enum, _ENUMS)},
}


def decode_config_pickle(src: ByteSource, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Decode the object a ``torch.save`` zip holds with ``CONFIG_OBJECTS``; ``UnreadableFile`` /
    ``UnsafePickle`` / ``ResourceLimit`` naming the file. The legacy (pre-1.6, non-zip) format is not read."""
    path = src.path
    if src.size == 0:
        raise UnreadableFile(path, "empty file (0 bytes)")
    if not src.read_at(0, min(src.size, 4)).startswith(LOCAL_SIG):
        raise UnreadableFile(path, "not a torch zip file (a legacy torch pickle or another format): not read")
    zd = ZipDirectory(src, limits)
    entry, _prefix = data_pkl_entry(zd)
    data = zd.read(entry, limits.max_pickle_bytes, "pickle")
    return decode_whole_pickle(path, data, CONFIG_OBJECTS, None, limits, "data.pkl", FieldDecoder)


def read_config_pickle(path: Any, limits: Limits = DEFAULT_LIMITS, *, store: Store = LOCAL, root: Any = None) -> Any:
    """``decode_config_pickle`` of the file at ``path``, opened through the store's guarded open."""
    with store.open(path, root=root) as src:
        return decode_config_pickle(src, limits)
