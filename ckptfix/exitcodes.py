"""The exit codes ckptfix promises launchers (the CI gate contract, ``docs/exit-codes.md``).

One table for every command: the code, the status word ``--json`` carries next to it, and what it means.
The codes are ordered by how bad they are where they meet (3 > 1 > 0: a checkpoint that cannot be read
safely outweighs findings, findings outweigh a clean one), so the code of several checkpoints, files or
refusals is their ``worst``: one ``max``. 2, 4 and 5 end a command on their own and never meet the others.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["CODES", "FINDINGS", "INTERNAL", "LAUNCH_CODES", "NOTHING_TO_RESUME", "OK", "UNREADABLE", "USAGE", "status_of",
           "worst"]

OK = 0
FINDINGS = 1
USAGE = 2
UNREADABLE = 3
NOTHING_TO_RESUME = 4
INTERNAL = 5
#: The codes on which a launcher starts the training: consistent, or a first launch.
LAUNCH_CODES = frozenset({OK, NOTHING_TO_RESUME})

#: code -> (status in ``--json``, meaning in ``--help``: each line fits 80 columns)
CODES: dict[int, tuple[str, str]] = {
    OK: ("ok", "every checked checkpoint is consistent (repair: repaired, or no change)"),
    FINDINGS: ("findings", "findings: inconsistent, missing or incomplete state (try repair)"),
    USAGE: ("usage-error", "usage error (bad flag; PATH a file, or missing without --latest)"),
    UNREADABLE: ("unreadable", "a file could not be read safely (corrupt, truncated, hostile)"),
    NOTHING_TO_RESUME: ("nothing-to-resume", "nothing to resume: no checkpoint yet (first launch)"),
    INTERNAL: ("internal-error", "internal error: a bug in ckptfix (--debug shows the traceback)"),
}


def status_of(code: int) -> str:
    """The ``--json`` status word of an exit code."""
    return CODES[code][0] if code in CODES else "unknown"


def worst(codes: Iterable[int], default: int = OK) -> int:
    """The exit code of several (checkpoints, files, refusals): the worst of them (3 > 1 > 0); ``default`` when
    there are none (``NOTHING_TO_RESUME`` where no checkpoint was checked at all)."""
    return max(codes, default=default)
