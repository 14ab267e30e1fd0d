"""Resource limits applied while decoding untrusted files.

Real scheduler/optimizer states sit far below every limit (a LoRA optimizer with thousands of
parameters: a few hundred KB of pickle, a few thousand zip entries, nesting depth < 10). A file
beyond a limit is refused with a message naming the limit, before the work it would cost is done.
"""

from __future__ import annotations

from ckptfix.records import Record


class Limits(Record):
    """Bounds on the work and memory one untrusted file may cost."""

    max_pickle_bytes: int = 64 * 1024 * 1024  # size of one data.pkl (or legacy pickle)
    # central-directory records: torch writes one per storage (~6,000 for a big optimizer); parsing
    # costs ~5 us and ~200 bytes each, so 250,000 is ~1.3 s (1,000,000 took 5 s here)
    max_zip_entries: int = 250_000
    max_central_directory_bytes: int = 64 * 1024 * 1024
    max_nesting: int = 64  # containers inside containers, after decoding
    max_objects: int = 5_000_000  # containers and values reachable after decoding
    max_mark_depth: int = 10_000  # open MARKs on the pickle VM's metastack
    max_long_bytes: int = 1024  # LONG1/LONG4/LONG literal size
    max_json_bytes: int = 16 * 1024 * 1024  # trainer JSON files
    max_safetensors_header: int = 100 * 1024 * 1024  # the safetensors crate's own limit
    max_scalar_entry_bytes: int = 1024 * 1024  # a storage read whole for a scalar value
    # storage bytes read for scalar values, per file: step counters are 4-8 bytes each (2,000 of them
    # in a big LoRA: 16 KB), so this only stops crafted files whose every counter is a big storage
    max_storage_bytes_read: int = 64 * 1024 * 1024
    # opcodes executed for one pickle: bounds decode time (~0.4-0.6 us each, so ~1 s) and memory
    # (~150 MB) whatever max_pickle_bytes allows; an AdamW state uses ~90 opcodes per parameter,
    # so this admits ~20,000 parameter tensors.
    max_pickle_ops: int = 2_000_000
    # A torch zip's data.pkl is allowed pickle_ops_base + pickle_ops_per_entry x (zip entries) opcodes, up
    # to max_pickle_ops: torch writes one entry per storage and real optimizer states use 26-30 opcodes per
    # entry (fixtures/optimizers, 46 optimizers; random_states 107 for 7 entries), so a crafted 4-entry
    # file of 6 million DUP/MEMOIZE/NONE opcodes is refused after 504,000 (~0.6 s) instead of 2 million
    # (2.1-2.9 s CPU, bench/hostile.py), and any real state stays far inside its budget.
    pickle_ops_base: int = 500_000
    pickle_ops_per_entry: int = 1_000
    # hashing done while building dicts/sets, in values hashed (a tuple counts its expanded size)
    max_hash_work: int = 20_000_000
    max_hash_collisions: int = 16  # keys of one dict/set sharing a full hash value


DEFAULT_LIMITS = Limits()
