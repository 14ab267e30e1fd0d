"""The JSON Schema of every ``--json`` document and of the results' ``to_json()`` (``results.py``).

One file, shipped inside the package as package data: ``ckptfix/schema/ckptfix.schema.json``. Its ``$id``
is ``ckptfix.links.SCHEMA_ID``; ``ckptfix schema`` prints it; the tests validate real documents against it.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

__all__ = ["SCHEMA_FILE", "schema", "schema_text"]

#: The schema's folder and file name inside the installed package.
SCHEMA_FILE = ("schema", "ckptfix.schema.json")


def schema_text() -> str:
    """The schema file's text, as shipped (what ``ckptfix schema`` prints)."""
    folder, name = SCHEMA_FILE
    return (files("ckptfix") / folder / name).read_text(encoding="utf-8")  # joinpath(a, b) needs 3.11


def schema() -> dict[str, Any]:
    """The schema as a JSON object."""
    return json.loads(schema_text())
