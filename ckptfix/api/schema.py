"""The JSON Schema of every ``--json`` document and of the results' ``to_json()``, generated from the result
model (``results.py``).

One file, shipped inside the package as package data: ``ckptfix/schema/ckptfix.schema.json``; ``ckptfix schema``
prints it as shipped (``schema_text``: nothing else is imported). ``generate`` builds it from the records'
annotations (``results.py``, ``restore_results.py``): a record is an object of exactly its fields (each required, no other), its docstring the
description; a field's type maps to JSON types (``X | None`` adds null, a tuple is an array, ``Any`` any
value), with the keywords of ``typing.Annotated`` (a string: the description; a dict: keywords such as
``enum``, ``pattern``, ``minimum``). ``docs/make_transcripts.py`` writes the file, and the tests check that the
committed file is what ``generate`` gives. Its ``$id`` is ``ckptfix.links.SCHEMA_ID``.
"""

from __future__ import annotations

import json
import re
import sys
import types
from importlib.resources import files
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

__all__ = ["SCHEMA_FILE", "documents", "generate", "generated_text", "schema", "schema_text"]

#: The schema's folder and file name inside the installed package.
SCHEMA_FILE = ("schema", "ckptfix.schema.json")

_TITLE = "ckptfix --json documents"
_DESCRIPTION = (
    "What `ckptfix inspect --json`, `ckptfix repair --json`, `ckptfix restore --json` and `ckptfix explain --json` "
    "print on stdout (one document), every line of `--jsonl` (a run, then the summary) and `ckptfix merge`'s "
    "output, and what ckptfix.check() / ckptfix.repair() return as records "
    "(ckptfix/api/results.py, from which this schema is generated). schema_version changes only on breaking "
    "changes. Fields are explained in docs/json.md; `ckptfix schema` prints this file.")
_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def schema_text() -> str:
    """The schema file's text, as shipped (what ``ckptfix schema`` prints)."""
    folder, name = SCHEMA_FILE
    return (files("ckptfix") / folder / name).read_text(encoding="utf-8")  # joinpath(a, b) needs 3.11


def schema() -> dict[str, Any]:
    """The schema as a JSON object."""
    return json.loads(schema_text())


def _def_name(cls: type) -> str:
    """``CheckpointRepair`` -> ``checkpoint_repair``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


def _description(doc: str | None) -> str:
    return " ".join((doc or "").split()).replace("``", "`")


class _Builder:
    """Turns the result records' annotations into ``$defs`` (one per record class reached)."""

    def __init__(self) -> None:
        from ckptfix.api import fields, results  # noqa: PLC0415 - only to build the schema: never at run time

        self.result = results.Result
        self.aliases = dict(vars(fields))
        self.defs: dict[str, dict[str, Any]] = {}

    def record(self, cls: type) -> dict[str, Any]:
        """``{"$ref": ...}`` to the record's definition, made on first use."""
        name = _def_name(cls)
        if name not in self.defs:
            self.defs[name] = {}  # reserved: a record that refers to itself refers to this
            module = vars(sys.modules[cls.__module__])
            hints = get_type_hints(cls, globalns=module, localns=self.aliases, include_extras=True)
            fields = cls.__record_fields__  # type: ignore[attr-defined]
            out: dict[str, Any] = {"type": "object"}
            if cls.__doc__:
                out["description"] = _description(cls.__doc__)
            out |= {"additionalProperties": False, "required": list(fields),
                    "properties": {f: self.type(hints[f]) for f in fields}}
            self.defs[name] = out
        return {"$ref": f"#/$defs/{name}"}

    def type(self, tp: Any) -> dict[str, Any]:
        """The JSON Schema of one annotation."""
        origin = get_origin(tp)
        if origin is Annotated:
            base, *meta = get_args(tp)
            out = self.type(base)
            for m in meta:
                if isinstance(m, str):
                    out["description"] = " ".join(filter(None, (out.get("description"), m)))
                else:
                    if "type" in m or "enum" in m or "const" in m:  # the keyword decides the values alone
                        out.pop("type", None)
                        out.pop("anyOf", None)
                    out.update(m)
            return out
        if tp is Any:
            return {}
        if origin is Literal:
            values = list(get_args(tp))
            return {"const": values[0]} if len(values) == 1 else {"enum": values}
        if origin in (Union, types.UnionType):
            parts = [self.type(a) for a in get_args(tp)]
            if all(set(p) == {"type"} and isinstance(p["type"], str) for p in parts):
                return {"type": [p["type"] for p in parts]}
            return {"anyOf": parts}
        if origin is tuple:
            args = get_args(tp)
            if args == () or args == ((),):
                return {"type": "array", "maxItems": 0}
            if len(args) == 2 and args[1] is Ellipsis:
                return {"type": "array", "items": self.type(args[0])}
            raise TypeError(f"a fixed-length tuple has no JSON form here: {tp}")
        if origin is dict:
            return {"type": "object"}
        if type(tp) is type and tp in _JSON_TYPES:  # not isinstance: on 3.10 tuple[X, ...] is a type too
            return {"type": _JSON_TYPES[tp]}
        if type(tp) is type and issubclass(tp, self.result):
            return self.record(tp)
        raise TypeError(f"no JSON Schema for {tp!r}")


def documents() -> tuple[type, ...]:
    """Every document ``--json`` prints (the schema's ``oneOf``), as its record class."""
    from ckptfix.api import fleet_results, restore_results, results  # noqa: PLC0415 - only to build the schema: never at run time

    return (results.CheckResult, results.RepairResult, results.ExplainResult, results.ErrorResult,
            restore_results.RestoreDocument, restore_results.ListDocument, restore_results.PruneDocument,
            fleet_results.FleetDocument, fleet_results.FleetRun, fleet_results.FleetSummary)


def generate() -> dict[str, Any]:
    """The schema of every document (``documents()``), built from the result model."""
    from ckptfix.links import SCHEMA_ID  # noqa: PLC0415 - only to build the schema: never at run time

    b = _Builder()
    one_of = [b.record(d) for d in documents()]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, "title": _TITLE,
            "description": _DESCRIPTION, "oneOf": one_of, "$defs": dict(sorted(b.defs.items()))}


def generated_text() -> str:
    """The schema file as ``generate`` makes it (what ``docs/make_transcripts.py`` writes)."""
    return json.dumps(generate(), indent=2, ensure_ascii=False) + "\n"
