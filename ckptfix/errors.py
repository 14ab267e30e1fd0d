"""Typed errors for input that cannot be read safely.

Every error names the file and what is wrong with it; the CLI turns them into findings and exit 3,
never into a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class CkptfixError(Exception):
    """Base class for errors ckptfix reports to the user."""


class UnreadableFile(CkptfixError):
    """A file could not be read safely: corrupt, truncated, empty, wrong format, too large."""

    code = "unreadable"

    def __init__(self, path: object, problem: str):
        # a string is a local path; any other path object (an object-storage path) is kept as it is
        self.path: Any = Path(path) if isinstance(path, str) else path
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class UnsafePickle(UnreadableFile):
    """A pickle asked for globals outside the allowlist. Nothing was executed."""

    code = "unsafe-pickle"

    def __init__(self, path: Path | str, refused: list[tuple[str, str, int]], problem: str | None = None):
        self.refused = refused  # (module, name, opcode offset)
        names = ", ".join(f"{m}.{n} (at byte {o})" for m, n, o in refused[:5])
        more = f" and {len(refused) - 5} more" if len(refused) > 5 else ""
        super().__init__(
            path,
            problem or f"pickle asks for globals outside the allowlist: {names}{more}; nothing was executed",
        )


class ResourceLimit(UnreadableFile):
    """Input exceeds a documented limit (size, nesting, entry count)."""

    code = "resource-limit"


class UsageError(CkptfixError):
    """Bad command-line input: exit 2."""


class PathMissing(UsageError):
    """PATH does not exist: a usage error (exit 2), except with ``--latest``, where it is a run's output
    folder before its first checkpoint: nothing to resume (exit 4)."""


class StorageUnreadable(CkptfixError):
    """Object storage that cannot be read: PATH could not be listed (access refused, no credentials, the
    endpoint unreachable or failing) or did not answer within the command's ``--timeout``. Exit 3, as
    for a file that cannot be read; not a usage error (the command line was right)."""


class RepairFailed(CkptfixError):
    """A repair step failed; what was written is undone (``ApplyResult.restored`` says whether it was)."""


class LockHeld(CkptfixError):
    """Another repair holds the checkpoint's lock, or a killed one left it. ``holder``: who, from the
    lock (``pid 4242 on gpu-node-7 since 20261206T101500.000000Z``), None when it does not say."""

    def __init__(self, message: str, holder: str | None = None):
        self.holder = holder
        super().__init__(message)
