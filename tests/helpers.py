"""Shared test helpers: where things are, tree hashes, a state dict, a repair killed in a child process
(fixtures are in ``conftest.py``)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
CORPUS = ROOT / "tests" / "corpus"


def installed(module: str) -> bool:
    """Whether a module beyond the base install (torch, matplotlib, fsspec) is there for a test to use.

    The smoke subset (``pytest -m smoke``: .ci/run runs it from the wheel on every Python the package declares,
    without extras, with ``CKPTFIX_SMOKE=1``) skips what needs it. CI's full run (``CI`` set, the dev extra
    installed) never skips: there a missing module fails the test."""
    if os.environ.get("CI") and not os.environ.get("CKPTFIX_SMOKE"):
        return True
    return importlib.util.find_spec(module) is not None


def needs(module: str) -> pytest.MarkDecorator:
    """Skip a test where ``module`` is not installed (the smoke run); see ``installed``."""
    return pytest.mark.skipif(not installed(module), reason=f"needs {module}, not in the base install")


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file below root (hidden ones included), by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def adamw_state(shapes: list[tuple[int, ...]], steps: int = 3) -> dict:
    """A real ``torch.optim.AdamW`` state dict after ``steps`` steps on parameters of ``shapes``."""
    import torch

    params = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
    opt = torch.optim.AdamW(params, lr=1e-3)
    for _ in range(steps):
        for p in params:
            p.grad = torch.ones_like(p)
        opt.step()
    return opt.state_dict()


def in_forked_child(fn: Callable[[], bool]) -> int:
    """Run ``fn`` in a forked child; its exit code: 0 when ``fn`` returned true, 1 when false, 2 when it raised,
    ``n`` when something in it called ``os._exit(n)`` (no except/finally runs: as after a kill)."""
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(0 if fn() else 1)
        except BaseException:
            os._exit(2)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def kill_at(stage: str, code: int = 17) -> Callable[[str, Path], None]:
    """A repair fault hook that ends the process when the repair reaches ``stage``, like a kill."""

    def hook(s: str, path: Path) -> None:
        if s == stage:
            os._exit(code)

    return hook


def fixture_generator() -> ModuleType:
    """``fixtures/generate.py`` as a module (it defines constants and functions only; nothing runs on
    import), for tests that make files the way the fixtures are made. Needs torch and accelerate."""
    name = "ckptfix_fixtures_generate"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, FIXTURES / "generate.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]
