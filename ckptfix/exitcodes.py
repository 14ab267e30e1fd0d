"""The exit codes ckptfix promises launchers (the CI gate contract, ``docs/exit-codes.md``).

One table for every command: the code, the status word ``--json`` carries next to it, and what it means.
"""

from __future__ import annotations

__all__ = ["CODES", "FINDINGS", "INTERNAL", "LAUNCH_CODES", "NOTHING_TO_RESUME", "OK", "UNREADABLE", "USAGE", "status_of"]

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
