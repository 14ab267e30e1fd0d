"""Many runs in one command: runs found under roots (``runs.py``), split between machines (``shard.py``),
checked side by side through the single-run pipelines (``single_run.py``: the one place that calls them;
``runner.py``; ``scan.py``), streamed as JSON Lines or one document (``stream.py``), and shards merged back
(``merge.py``). docs/fleet.md says how to use it.

Nothing is imported here: the single-PATH gate imports only ``scan.is_root_of_runs`` (to tell a root of
runs from a run), and each command the modules it runs.
"""

from __future__ import annotations

__all__: list[str] = []
