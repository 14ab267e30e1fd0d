"""Every byte ckptfix reads: the byte source (``source/``), zip archives, pickles (decoded by a machine
that never runs them), torch files, DCP metadata, safetensors headers, JSON, and the safety scan."""

from ckptfix.formats.jsonfile import read_json
from ckptfix.formats.limits import DEFAULT_LIMITS, Limits
from ckptfix.formats.objects import Opaque, Refused, StorageRef, TensorRef
from ckptfix.formats.pickle_vm import decode_pickle, run_pickle
from ckptfix.formats.safetensors_header import SafetensorsHeader, read_safetensors_header
from ckptfix.formats.scan import ScanResult, scan_file, scan_folder
from ckptfix.formats.source import LOCAL, ByteSource, Store
from ckptfix.formats.torchfile import TorchFile, decode_torch, open_torch_file

__all__ = [
    "DEFAULT_LIMITS", "LOCAL", "ByteSource", "Limits", "Opaque", "Refused", "SafetensorsHeader", "ScanResult",
    "StorageRef", "Store", "TensorRef", "TorchFile", "decode_pickle", "decode_torch", "open_torch_file", "read_json",
    "read_safetensors_header", "run_pickle", "scan_file", "scan_folder",
]
