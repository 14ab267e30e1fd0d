"""One options record (``ckptfix/analysis/options.py``): the CLI's flags, ``ckptfix.check`` / ``ckptfix.repair``,
``guard_load_state`` and the command to run next all derive from it, accept every option and mean the same.

``SAMPLES`` holds a value other than the default for each option: a new option fails
``test_every_option_has_a_sample`` until it gets one, and is then checked by every test here.
"""

from __future__ import annotations

import inspect
import json
import shlex
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import ckptfix
from ckptfix._cli import app
from ckptfix.analysis.options import COMMANDS, Options, option_specs
from ckptfix.analysis.run import inspect_path
from ckptfix.api.next_steps import given_flags, next_command
from tests.helpers import FIXTURES

#: A value other than the default for every option (valid for the fixtures used below).
SAMPLES = {
    "num_processes": 1, "step": 30, "lr_warmup_steps": 10, "lr_end": 1.234567891234e-06, "learning_rate": 1e-4,
    "t_mult": 2, "trainer": "simpletuner==3.1.6", "target": "simpletuner-sine-v2", "skip_until_initial_step": False,
    "strict": True, "recreate": True,
    "optimizer_lr": True, "lr_scheduler": "cosine_with_restarts", "max_train_steps": 40, "lr_num_cycles": 2.0,
    "lr_power": 0.8, "lr_min_lr_rate": 0.1, "lr_num_decay_steps": 4, "lr_scheduler_kwargs": '{"num_cycles": 2}',
    "writer_processes": 2, "split_batches": True, "no_step_scheduler_with_optimizer": True,
    "scheduler_steps_per_optimizer_step": 0.5, "gradient_accumulation_steps": 2, "steps_per_epoch": 5,
}
NAMES = [s.name for s in option_specs()]
COMMAND = typer.main.get_command(app)


def test_every_option_has_a_sample() -> None:
    assert set(SAMPLES) == set(NAMES) == set(Options.__record_fields__)
    assert all(SAMPLES[s.name] != s.default and isinstance(SAMPLES[s.name], s.type) for s in option_specs())


def parse(command: str, argv: list[str]) -> Options:
    """What the CLI's own parser makes of ``argv`` (``ckptfix COMMAND PATH ARGV``), as options."""
    ctx = COMMAND.commands[command].make_context(command, ["somewhere", *argv])
    return Options(**{s.name: ctx.params[s.name] for s in option_specs(command)})


@pytest.mark.parametrize("command", COMMANDS)
def test_the_cli_takes_every_option_of_its_command_from_the_record(command: str) -> None:
    params = {p.name: p for p in COMMAND.commands[command].params if isinstance(p, typer.core.TyperOption)}
    for spec in option_specs(command):
        p = params[spec.name]
        assert spec.flag.flag in p.opts and p.help == spec.flag.help and p.default == spec.default
        assert (spec.flag.short in p.opts) if spec.flag.short else len(p.opts) == 1
    others = {s.name for s in option_specs()} - {s.name for s in option_specs(command)}
    assert not others & set(params)  # repair's --recreate is not inspect's


@pytest.mark.parametrize("name", NAMES)
def test_round_trip_through_the_next_command(name: str) -> None:
    """options -> the next command's words -> the CLI's parser -> the same options; each option alone and all
    together (floats too: 1.234567891234e-06 is not cut to 1.23457e-06)."""
    for opts in (Options(**{name: SAMPLES[name]}), Options(**SAMPLES)):
        argv = shlex.split(" ".join(given_flags(opts)))
        assert parse("repair", argv) == opts
        inspect_opts = Options(**{s.name: getattr(opts, s.name) for s in option_specs("inspect")})
        assert parse("inspect", [w for w in argv if w not in ("--recreate", "--optimizer-lr")]) == inspect_opts
    findings = [f for r in inspect_path(FIXTURES / "sine-v1")[1] for f in r.findings]
    command = next_command(findings, "out dir", True, Options(**SAMPLES))
    words = shlex.split(command)
    assert words[:4] == ["ckptfix", "repair", "out dir", "--latest"] and words[-1] == "--dry-run"
    assert parse("repair", words[4:-1]) == Options(**SAMPLES)


@pytest.mark.parametrize("func, command", [(ckptfix.check, "inspect"), (ckptfix.repair, "repair"),
                                           (ckptfix.guard_load_state, "repair")])
def test_the_api_signatures_are_the_record(func, command: str) -> None:
    params = inspect.signature(func).parameters
    for spec in option_specs(command):
        assert params[spec.name].kind is inspect.Parameter.KEYWORD_ONLY and params[spec.name].default == spec.default
    with pytest.raises(TypeError, match="unexpected keyword argument 'lr_ending'"):
        func(FIXTURES / "sine-ok", lr_ending=1e-6) if func is not ckptfix.guard_load_state else func(None, lr_ending=1)
    if command == "inspect":
        with pytest.raises(TypeError, match="check\\(\\) got an unexpected keyword argument 'recreate'"):
            ckptfix.check(FIXTURES / "sine-ok", recreate=True)


def _cli_json(command: str, path: Path, opts: Options, *extra: str) -> dict:
    argv = shlex.split(" ".join(given_flags(opts)))
    res = CliRunner().invoke(app, [command, str(path), "--latest", "--json", *extra, *argv])
    assert res.exit_code in (0, 1, 3, 4), res.output
    return json.loads(res.stdout)


@pytest.mark.parametrize("name", [s.name for s in option_specs("inspect")])
def test_check_means_what_inspect_means(name: str) -> None:
    opts = Options(**{name: SAMPLES[name]})
    api = ckptfix.check(FIXTURES / "sine-v1", **{name: SAMPLES[name]})
    assert api.to_json() == _cli_json("inspect", FIXTURES / "sine-v1", opts)
    assert ckptfix.check(FIXTURES / "sine-v1", options=opts) == api


@pytest.mark.parametrize("name", NAMES)
def test_repair_means_what_repair_means(name: str) -> None:
    opts = Options(**{name: SAMPLES[name]})
    api = ckptfix.repair(FIXTURES / "sine-v1", dry_run=True, **{name: SAMPLES[name]})
    assert api.to_json() == _cli_json("repair", FIXTURES / "sine-v1", opts, "--dry-run")


class FakeAccelerator:
    """What guard_load_state uses of an Accelerator: it registers the hook (tests/api/test_hook.py runs a real one)."""

    is_main_process = True

    def register_load_state_pre_hook(self, hook):
        self.hook = hook
        return hook

    def wait_for_everyone(self) -> None:
        pass


@pytest.mark.parametrize("name", NAMES)
def test_the_hook_means_what_check_and_repair_mean(name: str, tmp_path: Path) -> None:
    """The hook's check is ``check(options)`` on the folder load_state resolved; with repair=True its repair is
    ``repair(options)`` first: the same verdict, for every option."""
    opts = Options(**{name: SAMPLES[name]})
    for do_repair in (False, True):
        ck, twin = (tmp_path / f"{side}-{do_repair}" / "checkpoint-30" for side in ("hook", "api"))
        for folder in (ck, twin):
            shutil.copytree(FIXTURES / "sine-v1" / "checkpoint-30", folder)
        if do_repair:
            ckptfix.repair(twin, latest=False, options=opts)
        expected = ckptfix.check(twin, latest=False, options=opts)
        acc = FakeAccelerator()
        ckptfix.guard_load_state(acc, repair=do_repair, **{name: SAMPLES[name]})
        try:
            acc.hook([], str(ck))
            got = None
        except ckptfix.CheckpointRefused as err:
            got = err.result
        assert (got is None) == (expected.exit_code == 0), (name, do_repair)
        if got is not None:
            assert _neutral(got, ck) == _neutral(expected, twin)


def _neutral(result, ck: Path) -> str:
    """The result's JSON with the checkpoint's path made neutral (the twins live in different folders)."""
    return json.dumps(result.to_json()).replace(str(ck), "CK")


def test_derived_pipeline_state_is_not_an_option() -> None:
    assert not {"installed", "run_processes"} & set(Options.__record_fields__)
