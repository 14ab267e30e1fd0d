"""What to run next: the closing line of the human output and ``inspect --json``'s ``next``, built from
the findings' rules.

Pure: findings in, one command out. Each rule says which flags ``repair`` needs to fix it
(``Rule.repair``: "" for none, ``--optimizer-lr``, ``--lr-warmup-steps W`` ...; None when repair does not
fix it); the options the user already gave are carried over as the options record states them
(``analysis/options.py``: ``OptionSpec.words``), so the command is the one that works. It lives
in the API layer because the typed result carries it (a launcher runs the gate's own advice, not a
hard-coded repair: docs/exit-codes.md); ``render/`` prints it.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from ckptfix.analysis.findings import Finding
from ckptfix.analysis.options import Options, option_specs

__all__ = ["PLACEHOLDERS", "SEVERITIES", "given_flags", "next_command", "placeholders", "quote", "repair_words"]

SEVERITIES = ("fatal", "error", "warning", "info")  # the most serious first
_SCHEDULER_NAMES = ("scheduler", "scheduler_")


#: What a placeholder in a suggested command stands for.
PLACEHOLDERS = {"W": "W: the run's --lr_warmup_steps", "E": "E: the run's --lr_end",
                "G": "G: the checkpoint's real optimizer step", "N": "N: the run's number of training processes",
                "NAME": "NAME: the run's --lr_scheduler", "T": "T: the run's --max_train_steps"}


def placeholders(command: str) -> str | None:
    """``W: the run's --lr_warmup_steps; E: ...`` for the placeholders in ``command``, or None."""
    words = command.split()
    found = [PLACEHOLDERS[w] for w in PLACEHOLDERS if w in words]
    return "; ".join(found) if found else None


def quote(path: object) -> str:
    """A path as a shell word (quoted only when it needs to be)."""
    return shlex.quote(str(path))


def given_flags(opts: Options) -> list[str]:
    """The options the user stated, in the record's order, each as one shell word or ``flag value``
    (``--lr-end 1e-06``, ``--strict``); defaults are left out. They read back as the same options."""
    out = []
    for spec in option_specs():
        words = spec.words(getattr(opts, spec.name))
        if words:
            out.append(" ".join([words[0], *(quote(w) for w in words[1:])]))
    return out


def _is_scheduler_file(file: str | None) -> bool:
    name = (file or "").rsplit("/", 1)[-1]
    return name.startswith(_SCHEDULER_NAMES) and name.endswith((".bin", ".pt"))


def repair_words(target: object, latest: bool, opts: Options) -> list[str]:
    """``ckptfix repair TARGET [--latest]`` with the flags the user stated (``given_flags``), as words."""
    return ["ckptfix", "repair", quote(target)] + (["--latest"] if latest else []) + given_flags(opts)


def next_command(findings: Iterable[Finding], target: object, latest: bool, opts: Options,
                 dry_run: bool = True) -> str | None:
    """The command that deals with ``findings`` (on ``target``, as the user named it), or None when there
    is nothing to do; ``opts``: what the user stated (carried over).

    A repair when every error (and warning) is one repair fixes, with the flags it needs; else
    ``ckptfix explain CODE`` for the first finding repair cannot fix."""
    relevant = [f for f in findings if f.severity != "info"]
    if not relevant:
        return None
    flags: list[str] = []
    for f in sorted(relevant, key=lambda f: SEVERITIES.index(f.severity)):
        need = f.rule.repair
        if f.code in ("CKF002", "CKF003") and _is_scheduler_file(f.file):
            need = "--recreate --lr-warmup-steps W --lr-end E"  # a damaged scheduler file is rebuilt from the optimizer
        if need is None:
            if f.severity in ("fatal", "error"):
                return f"ckptfix explain {f.code}"
            continue  # a warning repair does not fix does not block the rest
        for flag in need.split(" --"):
            flag = flag if flag.startswith("--") or not flag else f"--{flag}"
            if flag and flag not in flags:
                flags.append(flag)
    stated = given_flags(opts)
    stated_names = {s.split()[0] for s in stated}
    words = repair_words(target, latest, opts)
    words += [f for f in flags if f.split()[0] not in stated_names]
    if dry_run:
        words.append("--dry-run")
    return " ".join(words)
