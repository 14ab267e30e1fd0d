"""The types the results' fields share (``results.py``), with what the JSON Schema says of each.

Each is a plain type to Python and to type checkers, annotated (``typing.Annotated``) with the JSON Schema
keywords it adds: a description (a string), or keywords (a dict). ``schema.py`` builds the schema from them;
``results.py`` names them in its annotations, which are never evaluated at run time, so this module is
imported only to build the schema (``ckptfix schema`` reads the shipped file: it does not import it).
"""

from __future__ import annotations

from typing import Annotated, Any

__all__ = [
    "CODE", "ACTIONS", "Action", "BackupName", "Code", "ExitCode", "FileKind", "Lr", "NonNegative", "PathText",
    "Positive", "Profile", "Real", "Severity", "Status", "Step", "Target",
]

CODE = {"pattern": "^CKF[0-9]{3}$"}
#: What repair does to a file (``repair/actions``), as a backup records it.
ACTIONS = ["rewrite", "create", "patch"]

PathText = Annotated[str, {"minLength": 1}]
Code = Annotated[str, CODE]
ExitCode = Annotated[int, {"enum": [0, 1, 2, 3, 4, 5]}]
Status = Annotated[str, "the exit code in a word (docs/exit-codes.md)",
                   {"enum": ["ok", "findings", "usage-error", "unreadable", "nothing-to-resume", "internal-error"]}]
Severity = Annotated[str, {"enum": ["fatal", "error", "warning", "info"]}]
Step = Annotated[int | None, {"minimum": 0}]
NonNegative = Annotated[int, {"minimum": 0}]
Positive = Annotated[int, {"minimum": 1}]
Lr = Annotated[Any, "a learning rate: a number, or a string for a non-finite or non-numeric value",
               {"type": ["number", "string", "null"]}]
Real = Annotated[Any, 'a float; non-finite ones as "nan"/"inf"/"-inf"', {"type": ["number", "string", "null"]}]
Profile = Annotated[str | None, {"enum": ["sine", "simpletuner-sine-v1", "simpletuner-sine-v2", "simpletuner-cosine",
                                            "unchecked", None]}]
Target = Annotated[str, {"enum": ["sine", "simpletuner-sine-v2"]}]
Action = Annotated[str, {"enum": ACTIONS}]
FileKind = Annotated[str, {"enum": [*ACTIONS, "nothing"]}]
BackupName = Annotated[str, {"pattern": r"^backup-[0-9]{8}T[0-9]{6}\.[0-9]{6}Z(-[0-9]+)?$"}]
