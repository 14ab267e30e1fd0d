"""The package's shape, enforced: layers (the shared base modules included), no import cycles between
modules nor between subpackages, no private names across modules, public names declared, and a test file
a newcomer can find for every module.

Read from the source with ``ast`` (nothing is imported), so a violation anywhere fails here even when
no other test runs that code. Ruff enforces the same two rules at lint time (PLC0415 for imports
inside functions without a reason, PLC2701 for private names); this test also sees cycles.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGE = ROOT / "ckptfix"
TESTS = ROOT / "tests"

# The shared base: every layer may import these; they import nothing of ckptfix but each other.
BASE = {"ckptfix", "ckptfix.records", "ckptfix.errors", "ckptfix.coerce", "ckptfix.text", "ckptfix.exitcodes",
        "ckptfix.links"}
# The command line: above every layer (it parses, calls one pipeline function and renders).
CLI = {"ckptfix._cli", "ckptfix.__main__"}
# Subpackages that import each other, each with why it is left for now (the test fails when one is gone:
# then drop it here).
KNOWN_PACKAGE_CYCLES = {
    frozenset({"ckptfix.model", "ckptfix.model.layouts"}):
        "model/load.py picks a layout from model/layouts/, whose layouts read with model/readers.py and build "
        "model/checkpoint.py's records: issue 20 item 1 (trainers and layouts decide through their interfaces) "
        "reshapes both",
}
# Which layers each layer may import (besides itself and the shared base modules).
ALLOWED = {
    "formats": {"formats"},
    "model": {"formats", "model"},
    "schedulers": {"schedulers"},
    "api": {"formats", "model", "schedulers", "analysis", "repair", "api"},
    "analysis": {"formats", "model", "schedulers", "analysis"},
    "repair": {"formats", "model", "schedulers", "analysis", "repair"},
    "fleet": {"formats", "model", "schedulers", "analysis", "repair", "api", "fleet"},
    "render": {"formats", "model", "schedulers", "analysis", "repair", "api", "fleet", "render"},
}

# Modules whose tests live in a file not named after them (module -> test file, relative to tests/).
TESTED_ELSEWHERE = {
    "ckptfix.repair.actions.whole_file": "repair/test_apply.py",  # through both actions that use it
    "ckptfix.exitcodes": "cli/test_exit_codes.py",
    "ckptfix.analysis.schedule_options": "analysis/test_schedule_config.py",
    "ckptfix.model.leftovers": "repair/test_leftovers.py",
    "ckptfix.analysis.leftover_checks": "repair/test_leftovers.py",
    "ckptfix.model.resume_files": "analysis/test_resume_files.py",
    "ckptfix": "cli/test_inspect_cli.py",  # __version__, via --version
    "ckptfix.__main__": "cli/test_inspect_cli.py",  # python -m ckptfix
    "ckptfix._cli": "cli/test_inspect_cli.py",
    "ckptfix.errors": "formats/test_torchfile.py",  # typed errors naming the file
    "ckptfix.formats.limits": "formats/test_pickle_vm.py",
    "ckptfix.formats.objects": "formats/test_torchfile.py",
    "ckptfix.formats.allowlist": "formats/test_pickle_vm.py",
    "ckptfix.formats.jsonfile": "model/test_readers.py",
    "ckptfix.formats.safetensors_header": "model/test_readers.py",
    "ckptfix.formats.source.interface": "formats/test_source.py",
    "ckptfix.formats.source.local": "formats/test_source.py",
    "ckptfix.formats.source.window": "formats/test_source.py",
    "ckptfix.formats.dcp": "model/test_layouts.py",
    "ckptfix.formats.source.remote.batch": "formats/test_store.py",  # round trips shared between threads
    "ckptfix.formats.source.remote.path": "formats/test_store.py",
    "ckptfix.formats.location": "cli/test_remote_s3.py",  # URLs, --storage-option, missing backends
    "ckptfix.repair.workdir": "repair/test_lock.py",
    "ckptfix.formats.source.writable": "formats/test_durable.py",  # the contract, on both stores  # .ckptfix/: the lock and the backup folders
    "ckptfix.model.checkpoint": "model/test_readers.py",
    "ckptfix.model.load": "model/test_layouts.py",
    "ckptfix.model.layouts.interface": "model/test_layouts.py",
    "ckptfix.model.layouts.accelerate": "model/test_layouts.py",
    "ckptfix.model.layouts.deepspeed": "model/test_layouts.py",
    "ckptfix.model.layouts.fsdp": "model/test_layouts.py",
    "ckptfix.model.layouts.hf_trainer": "model/test_layouts.py",
    "ckptfix.model.trainers.interface": "model/test_trainers.py",
    "ckptfix.model.trainers.simpletuner": "model/test_trainers.py",
    "ckptfix.model.trainers.kohya": "model/test_trainers.py",
    "ckptfix.model.trainers.diffusers": "model/test_trainers.py",
    "ckptfix.model.trainers.accelerate": "model/test_trainers.py",
    "ckptfix.model.trainers.transformers": "model/test_trainers.py",
    "ckptfix.model.trainers.spec": "model/test_trainers.py",
    "ckptfix.schedulers.profiles": "schedulers/test_detect.py",
    "ckptfix.schedulers.reference": "schedulers/test_formulas.py",
    "ckptfix.analysis.findings": "analysis/test_checks.py",
    "ckptfix.analysis.trainer_checks": "model/test_layouts.py",
    "ckptfix.analysis.run": "cli/test_inspect_cli.py",
    "ckptfix.analysis.resume_checks": "analysis/test_resume_preview.py",
    "ckptfix.repair.actions.interface": "repair/test_apply.py",
    "ckptfix.repair.actions.scheduler": "repair/test_apply.py",
    "ckptfix.repair.run": "cli/test_repair_cli.py",
    "ckptfix.render.json_doc": "cli/test_inspect_cli.py",
    "ckptfix.api.schema": "cli/test_json_schema.py",
    "ckptfix.api.fields": "cli/test_json_schema.py",  # the schema generated from them
    "ckptfix.api.restore_results": "repair/test_restore.py",  # restore --json, --list --json, --prune --json  # ckptfix schema, and every document validated against it
    "ckptfix.render.plan": "cli/test_repair_cli.py",
    "ckptfix.render.restore": "repair/test_restore.py",
    "ckptfix.render.values": "cli/test_inspect_cli.py",
    "ckptfix.api.fleet_results": "fleet/test_scan.py",  # every --jsonl line and --json document validated
    "ckptfix.fleet.merge": "fleet/test_scan.py",  # shards merged == unsharded; every refusal
    "ckptfix.fleet.runner": "fleet/test_scan.py",  # the local pool and its order, through whole scans
    "ckptfix.fleet.single_run": "fleet/test_scan.py",  # each run's record == the single-run --json document
    "ckptfix.fleet.stream": "fleet/test_scan.py",  # --jsonl and --json of many runs, against the schema
    "ckptfix.render.fleet": "fleet/test_scan.py",
}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _typing_only(tree: ast.AST) -> set[int]:
    """ids of the import statements inside ``if TYPE_CHECKING:`` (never executed)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def imports_of(name: str, path: Path, runtime_only: bool = False) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import statement in the module
    (``runtime_only``: not those under ``if TYPE_CHECKING:``)."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    skip = _typing_only(tree) if runtime_only else set()
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:
                sub = f"{mod}.{a.name}"
                if sub in MODULES:  # "from pkg import module"
                    out.append((sub, None, node.lineno))
                else:
                    out.append((mod, a.name, node.lineno))
    return out


def internal_edges(runtime_only: bool = False) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for name, path in MODULES.items():
        for mod, _n, _line in imports_of(name, path, runtime_only):
            if mod in MODULES and mod != name:
                graph[name].add(mod)
    return graph


def layer(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED) else None


def test_no_import_cycles() -> None:
    """Every import that runs counts, also those inside functions: none may close a cycle. (Imports under
    ``if TYPE_CHECKING:`` never run: ``ckptfix/__init__.py`` names its lazily loaded API that way.)"""
    graph = internal_edges(runtime_only=True)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycle = stack[stack.index(n):] + [n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def package_of(name: str) -> str:
    """The node of the subpackage graph a module belongs to: its package (a package's ``__init__`` is the
    package itself); a module directly in ``ckptfix/`` (the base, the CLI) is a node of its own."""
    if MODULES[name].name == "__init__.py" or name.count(".") == 1:
        return name
    return name.rsplit(".", 1)[0]


def package_cycles() -> list[tuple[frozenset[str], list[str]]]:
    """Every group of subpackages that import each other (a strongly connected component of more than one),
    with the module imports that close it."""
    edges: dict[str, dict[str, list[str]]] = {}
    for a, targets in internal_edges(runtime_only=True).items():
        for b in targets:
            pa, pb = package_of(a), package_of(b)
            if pa != pb:
                edges.setdefault(pa, {}).setdefault(pb, []).append(f"{a} imports {b}")
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[tuple[frozenset[str], list[str]]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges.get(v, {})):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = stack[stack.index(v):]
            del stack[stack.index(v):]
            if len(group) > 1:
                why = [imp for a in sorted(group) for b in sorted(group) for imp in edges.get(a, {}).get(b, [])[:2]]
                out.append((frozenset(group), why))

    for v in sorted({package_of(m) for m in MODULES}):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_between_subpackages() -> None:
    """A subpackage that imports another which imports it back is one tangle, whatever its modules do:
    ``formats`` and ``formats.source.remote`` were one (a byte source planning torch-zip reads)."""
    found = dict(package_cycles())
    new = {group: why for group, why in found.items() if group not in KNOWN_PACKAGE_CYCLES}
    assert not new, "\n".join(f"{sorted(g)}: " + "; ".join(why) for g, why in new.items())
    gone = [sorted(g) for g in KNOWN_PACKAGE_CYCLES if g not in found]
    assert not gone, f"no longer a cycle: drop {gone} from KNOWN_PACKAGE_CYCLES"


def test_the_base_modules_are_declared_and_import_only_each_other() -> None:
    """Every module directly in ``ckptfix/`` is the base or the CLI (a new one is put in one on purpose), and a
    base module imports no layer: only other base modules (``ckptfix/__init__.py`` loads its API lazily, by
    name, on first use)."""
    top = {name for name in MODULES if package_of(name) == name and name.count(".") <= 1 and layer(name) is None}
    assert top - BASE - CLI == set(), f"neither base nor CLI: {sorted(top - BASE - CLI)}"
    graph = internal_edges(runtime_only=True)  # ckptfix/__init__.py's imports for type checkers never run
    bad = [f"{name} imports {t}" for name in sorted(BASE) for t in sorted(graph[name]) if t not in BASE]
    assert not bad, "\n".join(bad)


def test_layers_import_only_below_them() -> None:
    bad = []
    for name, targets in internal_edges().items():
        own = layer(name)
        if own is None:
            continue  # the CLI and the base modules
        for t in targets:
            if t in BASE:
                continue
            if layer(t) not in ALLOWED[own]:
                bad.append(f"{name} imports {t}")
    assert not bad, "\n".join(bad)


def test_no_private_names_across_modules() -> None:
    bad = []
    for name, path in MODULES.items():
        for mod, imported, line in imports_of(name, path):
            if not mod.startswith("ckptfix") or mod == name:
                continue
            if imported and imported.startswith("_") and not imported.startswith("__"):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {mod}.{imported}")
            if any(part.startswith("_") and not part.startswith("__") and part != "_cli" for part in mod.split(".")):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports the private module {mod}")
        tree = ast.parse(path.read_text())
        modules_bound = {a.asname or a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                         for a in n.names if a.name.startswith("ckptfix")}
        modules_bound |= {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                          for a in n.names if f"{n.module}.{a.name}" in MODULES}
        for n in ast.walk(tree):
            if (isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in modules_bound
                    and n.attr.startswith("_") and not n.attr.startswith("__")):
                bad.append(f"{path.relative_to(ROOT)}:{n.lineno} uses {n.value.id}.{n.attr}")
    assert not bad, "\n".join(bad)


def test_each_interface_and_subpackage_declares_its_public_names() -> None:
    missing = [name for name, path in MODULES.items()
               if (path.name in ("__init__.py", "interface.py") and name != "ckptfix")
               and "__all__" not in path.read_text()]
    assert not missing, f"no __all__ in {missing}"


def test_every_module_has_a_test_file_a_newcomer_can_find() -> None:
    missing = []
    for name, path in MODULES.items():
        if path.name == "__init__.py" and name != "ckptfix":
            continue  # re-exports only
        rel = path.relative_to(PACKAGE)
        layer_dir = rel.parts[0] if len(rel.parts) > 1 else ""
        own = TESTS / layer_dir / f"test_{path.stem}.py"
        other = TESTED_ELSEWHERE.get(name)
        if own.exists():
            assert other is None, f"{name}: has {own.relative_to(ROOT)}; drop it from TESTED_ELSEWHERE"
            continue
        if other is None or not (TESTS / other).exists():
            missing.append(f"{name}: no {own.relative_to(ROOT)}" + (f" and no {other}" if other else ""))
    assert not missing, "\n".join(missing)
