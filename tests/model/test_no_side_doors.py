"""Trainers and layouts decide through their interfaces: outside ``model/trainers/`` and ``model/layouts/`` no
code compares a value with a trainer's or a layout's name, or keys a table by one.

Read from the source with ``ast``: a ``== "hf-trainer"``, an ``in ("kohya", ...)``, a ``case "simpletuner":`` or a
``{"accelerate": ...}`` anywhere else fails here, naming the file and line. What differs per trainer is data on
its ``TrainerModel`` (rules, claims, latest pick); what differs per layout is a ``Layout`` class attribute,
reached through ``get_layout(ck.layout)``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from ckptfix.model.layouts import LAYOUTS
from ckptfix.model.trainers import TRAINERS
from tests.helpers import ROOT

PACKAGE = ROOT / "ckptfix"
OWNERS = (PACKAGE / "model" / "trainers", PACKAGE / "model" / "layouts")
NAMES = frozenset(t.name for t in TRAINERS) | frozenset(layout.name for layout in LAYOUTS)


def _names_in(node: ast.AST) -> list[str]:
    """Trainer or layout names written as a string constant in ``node`` (itself, or a tuple/list/set of them)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in NAMES:
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [n for elt in node.elts for n in _names_in(elt)]
    return []


def side_doors(source: str, filename: str = "<source>") -> list[str]:
    """``line: what`` for each comparison with, match on, or table keyed by a trainer or layout name."""
    out = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                out += [f"{node.lineno}: compares with {name!r}" for name in _names_in(operand)]
        elif isinstance(node, ast.match_case):
            for sub in ast.walk(node.pattern):
                if isinstance(sub, ast.MatchValue):
                    out += [f"{node.pattern.lineno}: matches {name!r}" for name in _names_in(sub.value)]
        elif isinstance(node, ast.Dict):
            out += [f"{node.lineno}: a table keyed by {name!r}" for k in node.keys if k is not None
                    for name in _names_in(k)]
    return out


def test_no_trainer_or_layout_name_decides_outside_their_modules() -> None:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if any(owner in path.parents for owner in OWNERS):
            continue
        bad += [f"{path.relative_to(ROOT)}:{where}" for where in side_doors(path.read_text(), str(path))]
    assert not bad, "decide through the trainer/layout interfaces instead:\n" + "\n".join(bad)


def test_the_scan_sees_each_kind_of_side_door() -> None:
    """The scan is not blind: each form the issue found (and its variants) is reported."""
    assert side_doors('if ck.layout == "hf-trainer": pass') == ["1: compares with 'hf-trainer'"]
    assert side_doors('x = 0 if choice.trainer == "simpletuner" else 1') == ["1: compares with 'simpletuner'"]
    assert side_doors('if disc.trainer not in ("kohya",): pass') == ["1: compares with 'kohya'"]
    assert side_doors('if "accelerate" != layout: pass') == ["1: compares with 'accelerate'"]
    assert side_doors('T = {"accelerate": 1}') == ["1: a table keyed by 'accelerate'"]
    assert side_doors('match t:\n    case "diffusers":\n        pass') == ["2: matches 'diffusers'"]
    assert side_doors('if name == "scheduler.bin": pass') == []  # file names are not trainer names
    assert side_doors('RunConfig("kohya", path)') == []  # naming a trainer is not deciding by it


def test_the_names_scanned_are_the_registries() -> None:
    assert {"simpletuner", "kohya", "transformers", "diffusers", "accelerate"} <= NAMES
    assert {"hf-trainer", "deepspeed", "fsdp"} <= NAMES
    assert all(Path(o).is_dir() for o in OWNERS)
