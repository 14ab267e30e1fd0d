"""Which trainer, and which of its releases, a verdict is for: ``--trainer NAME[SPEC]`` and the installed
package.

``parse_trainer_spec`` is the one parser of ``--trainer`` (pure). ``installed_version`` asks
``importlib.metadata`` for a distribution's version (never importing the trainer): when ckptfix runs in
the training environment, that is the release that will resume.
"""

from __future__ import annotations

import re

from ckptfix.model.trainers.interface import Version, VersionRange, parse_version
from ckptfix.records import Record

__all__ = ["TrainerSpec", "installed_version", "parse_trainer_spec", "version_range"]

_SPEC = re.compile(r"^\s*(?P<name>[A-Za-z][A-Za-z0-9_.-]*)\s*(?P<rest>.*)$")
_CLAUSE = re.compile(r"^\s*(?P<op>==|!=|>=|<=|>|<)\s*(?P<v>v?\d+(?:\.\d+)*)\s*$")
_WIDTH = 8  # version parts compared; "just above X" is X padded to this width with a 1 at the end


class TrainerSpec(Record):
    """A parsed ``--trainer`` value: the trainer's name and the releases it selects (None: not said)."""

    name: str
    versions: VersionRange | None
    text: str


def _above(v: Version) -> Version:
    """The smallest version greater than ``v`` and every ``v.0.0...``."""
    return v + (0,) * (_WIDTH - 1 - len(v)) + (1,)


def version_range(op: str, v: Version) -> VersionRange:
    """The releases a single clause ``<op> v`` selects (``!=`` is handled by the caller)."""
    if op == "==":
        return VersionRange(v, _above(v))
    if op == ">=":
        return VersionRange(v, None)
    if op == ">":
        return VersionRange(_above(v), None)
    if op == "<":
        return VersionRange(None, v)
    if op == "<=":
        return VersionRange(None, _above(v))
    raise ValueError(f"unsupported operator {op!r}")


def parse_trainer_spec(text: str, names: tuple[str, ...]) -> TrainerSpec:
    """``"simpletuner>=4.10"`` -> ``TrainerSpec("simpletuner", >= 4.10)``; ``"kohya"`` -> no range.

    Clauses are separated by commas (``simpletuner>=4,<4.10``) and use ``== >= > < <=``; ``names`` are the
    trainers ckptfix models. ``ValueError`` with a message for users otherwise."""
    m = _SPEC.match(text or "")
    if m is None:
        raise ValueError(f"--trainer {text!r}: expected NAME or NAME<op>VERSION, e.g. simpletuner>=4.10 "
                         f"(trainers: {', '.join(names)})")
    name = m.group("name").lower()
    if name not in names:
        raise ValueError(f"--trainer {text!r}: unknown trainer {name!r}; one of {', '.join(names)}")
    rest = m.group("rest").strip()
    if not rest:
        return TrainerSpec(name, None, text.strip())
    rng: VersionRange | None = VersionRange()
    for clause in rest.split(","):
        c = _CLAUSE.match(clause)
        if c is None or c.group("op") == "!=":
            raise ValueError(f"--trainer {text!r}: cannot read {clause.strip()!r}; use ==, >=, >, < or <= and a "
                             "release number, clauses separated by commas (simpletuner>=4,<4.10)")
        v = parse_version(c.group("v"))
        assert v is not None
        rng = rng.intersect(version_range(c.group("op"), v)) if rng is not None else None
        if rng is None:
            raise ValueError(f"--trainer {text!r}: no release satisfies every clause")
    return TrainerSpec(name, rng, text.strip())


def installed_version(package: str) -> str | None:
    """The installed version of distribution ``package`` (its metadata only; the package is not imported)."""
    from importlib import metadata  # noqa: PLC0415 - 28 ms of imports (email parsing): only when no --trainer is given

    try:
        return metadata.version(package)
    except (metadata.PackageNotFoundError, ValueError, OSError):
        return None
