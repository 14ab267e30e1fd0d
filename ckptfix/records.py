"""Record classes: dataclass behaviour without dataclasses' cost at import.

``@dataclass`` writes and compiles each class's ``__init__``, ``__repr__``, ``__eq__``, ``__hash__``
(and, frozen, ``__setattr__`` / ``__delattr__``) when its module is imported: 0.5-1.3 ms a class on
Python 3.11. The read path defines ~40 record classes, and that was 25 of the 35 ms ckptfix spent
importing on every gate run (as much as importing typer and rich; ``bench/``, issue #5). A ``Record``
subclass declares its fields the same way — annotations, in order, with defaults — and gets the same
behaviour from methods written once, here:

    class Finding(Record):            # frozen, like @dataclass(frozen=True)
        code: str
        file: str | None = None

    class TensorRef(Record, frozen=False):  # mutable; may declare __slots__ and its own fast __init__

Construction by position or keyword with defaults, ``__post_init__``, equality and hashing over the
fields (mutable records are unhashable, as dataclasses make them), a dataclass-style repr, and
``replace``. Mutable defaults (list, dict, set) are refused, as dataclasses refuse them. A default given
as ``Field(default, meta)`` attaches metadata to the field (``fields_meta(cls)``), as
``dataclasses.field(metadata=...)`` does.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any, TypeVar

try:
    from typing import dataclass_transform
except ImportError:  # Python 3.10: type checkers only
    def dataclass_transform(**_: Any) -> Any:  # type: ignore[no-redef]
        return lambda cls: cls

R = TypeVar("R", bound="Record")


class Field:
    """A field's default with metadata attached: the record's default is ``default``, and ``fields_meta`` of
    the class gives ``meta`` by field name."""

    __slots__ = ("default", "meta")

    def __init__(self, default: Any, meta: Any) -> None:
        self.default = default
        self.meta = meta


class FrozenRecordError(AttributeError):
    """Assignment to a field of a frozen record."""


@dataclass_transform(frozen_default=True)
class Record:
    __slots__ = ()
    __record_fields__: tuple[str, ...] = ()
    __record_defaults__: dict[str, Any] = {}
    __record_meta__: dict[str, Any] = {}

    def __init_subclass__(cls, frozen: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: list[str] = []
        defaults: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):  # a base's fields come first, as with dataclasses
            namespace = klass.__dict__
            annotations = namespace.get("__annotations__")
            if not annotations or klass is Record or not issubclass(klass, Record):
                continue
            if klass is not cls and namespace.get("__record_meta__"):
                meta.update(namespace["__record_meta__"])  # a base's Field metadata (its defaults are plain)
            for name, ann in annotations.items():
                if isinstance(ann, str) and ann.startswith(("ClassVar", "typing.ClassVar")):
                    continue
                if name not in fields:
                    fields.append(name)
                if name in namespace:
                    value = namespace[name]
                    if type(value) is Field:
                        meta[name] = value.meta
                        value = value.default
                        if klass is cls:
                            setattr(cls, name, value)
                    if isinstance(value, (list, dict, set)):
                        raise ValueError(f"mutable default {type(value).__name__} for field {name!r}")
                    defaults[name] = value
        seen_default = None
        for name in fields:
            if name in defaults:
                seen_default = name
            elif seen_default is not None:
                raise TypeError(f"{cls.__name__}: non-default field {name!r} follows default field {seen_default!r}")
        cls.__record_fields__ = tuple(fields)
        cls.__record_defaults__ = defaults
        cls.__record_meta__ = meta
        # a tuple of the field values. An attrgetter is no descriptor: stored as it is, it is called unbound (wrapping
        # it in staticmethod costs 1.5 us a class: staticmethod copies its attributes); attrgetter returns a bare value
        # for one name, so one field (or none) takes a function, which must be a staticmethod
        cls.__record_values__ = (attrgetter(*fields) if len(fields) > 1
                                 else staticmethod((lambda obj, _n=fields[0]: (getattr(obj, _n),)) if fields
                                                   else (lambda obj: ())))
        cls.__record_post_init__ = getattr(cls, "__post_init__", None)
        if not frozen:
            cls.__setattr__ = object.__setattr__  # type: ignore[method-assign,assignment]
            cls.__delattr__ = object.__delattr__  # type: ignore[method-assign,assignment]
            cls.__hash__ = None  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        names = cls.__record_fields__
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__}() takes {len(names)} arguments but {len(args)} were given")
        d = self.__dict__
        if args:
            d.update(zip(names, args))
        if kwargs:
            for k in kwargs:
                if k in d:
                    raise TypeError(f"{cls.__name__}() got multiple values for argument {k!r}")
                if k not in names:
                    raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {k!r}")
            d.update(kwargs)
        if len(d) < len(names):
            defaults = cls.__record_defaults__
            for name in names:
                if name not in d:
                    if name not in defaults:
                        raise TypeError(f"{cls.__name__}() missing required argument {name!r}")
                    d[name] = defaults[name]
        post = cls.__record_post_init__
        if post is not None:
            post(self)

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenRecordError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise FrozenRecordError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            values = self.__record_values__
            return values(self) == values(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.__record_values__(self))

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__record_fields__)
        return f"{type(self).__qualname__}({parts})"


def fields_meta(cls: type[Record]) -> dict[str, Any]:
    """The metadata of the fields declared with ``Field(default, meta)``, by name, in field order."""
    return {name: cls.__record_meta__[name] for name in cls.__record_fields__ if name in cls.__record_meta__}


def replace(obj: R, **changes: Any) -> R:
    """A copy of ``obj`` with some fields changed (``dataclasses.replace`` for records)."""
    values = {n: getattr(obj, n) for n in obj.__record_fields__}
    for k in changes:
        if k not in values:
            raise TypeError(f"{type(obj).__name__} has no field {k!r}")
    values.update(changes)
    return type(obj)(**values)
