"""The options a user states about a run: ONE record, ``Options``, from which everything that takes them is
derived — ``inspect``'s and ``repair``'s flags (``_cli.py``), ``ckptfix.check`` / ``ckptfix.repair`` and
``guard_load_state`` (``api/``), and the command to run next (``api/next_steps.py``).

Each field is declared once, with its type, its default and how it is stated (``option(...)``: the flag, its
help, its placeholder, its lower bound, the commands that take it). *To add an option*, add a field here and
use it where it matters; the CLI, the API, the hook and the next command take it from here
(``tests/api/test_options.py`` checks that each of them accepts every option and means the same).

What the pipeline learns while it runs (the trainer release installed here, the N other checkpoints
established) is not an option: ``analysis/report.py``'s ``RunFacts``.

No ``from __future__ import annotations``: the CLI builds its parameters from these annotations (real
types, never evaluated strings). Imports nothing but the record base: ``_cli.py`` imports it for ``--help``.
"""

import types
from collections.abc import Callable
from inspect import Parameter, signature
from typing import Any, TypeVar, Union, get_args, get_origin

from ckptfix.records import Field, Record, fields_meta, replace

__all__ = ["COMMANDS", "Flag", "OptionSpec", "Options", "option", "option_specs", "with_option_parameters"]

_F = TypeVar("_F", bound=Callable[..., Any])

#: The commands an option may belong to: ``inspect`` (also ``ckptfix.check`` and the hook's check) and
#: ``repair`` (also ``ckptfix.repair``, the hook with ``repair=True`` and the next command).
COMMANDS = ("inspect", "repair")


class Flag:
    """How an option is stated on the command line and in a next command: ``flag`` (``--num-processes``),
    ``help``, ``metavar`` (a placeholder, ``N``; "" for a switch), ``short`` (``-n``), ``at_least`` (refused below
    it, and NaN, inf), ``commands`` (which take it), ``off`` (a switch that is not given by default, None, states
    False with this flag: ``--no-skip-until-initial-step``). A plain class, not a record: the CLI makes these at
    import on every run, where a record's generic constructor costs 30 k instructions each (bench/instructions.py)."""

    __slots__ = ("at_least", "commands", "flag", "help", "metavar", "off", "short")

    def __init__(self, flag: str, help: str, metavar: str = "", short: str = "",  # noqa: A002 - typer's word
                 at_least: float | None = None, commands: tuple[str, ...] = COMMANDS, off: str = "") -> None:
        self.flag, self.help, self.metavar, self.short = flag, help, metavar, short
        self.at_least, self.commands, self.off = at_least, commands, off


def option(default: Any, flag: str, help: str, *, metavar: str = "", short: str = "",  # noqa: A002 - typer's word
           at_least: float | None = None, commands: tuple[str, ...] = COMMANDS, off: str = "") -> Any:
    """A field of ``Options``: its default, and how it is stated (``Flag``)."""
    return Field(default, Flag(flag, help, metavar, short, at_least, commands, off))


class Options(Record):
    """What the user states about the run; ``None`` means not given (ckptfix then uses the evidence).

    The field order is the order of the flags in ``--help`` and in a next command."""

    num_processes: int | None = option(
        None, "--num-processes", "Training processes N (default: from the evidence; the number of random_states_*.pkl "
        "is only a lower bound when only rank 0 saves).", metavar="N", short="-n", at_least=1)
    step: int | None = option(
        None, "--step", "The checkpoint's optimizer step, when its sources disagree.", metavar="G", at_least=0)
    lr_warmup_steps: int | None = option(
        None, "--lr-warmup-steps", "The run's --lr_warmup_steps (the sine: T_0 = W x N).", metavar="W", at_least=0)
    lr_end: float | None = option(None, "--lr-end", "The run's --lr_end (eta_min).", metavar="E", at_least=0)
    learning_rate: float | None = option(
        None, "--learning-rate", "The run's --learning_rate (the base LR).", metavar="LR", at_least=0)
    t_mult: int | None = option(None, "--t-mult", "The cycle length multiplier T_mult.", metavar="M", at_least=1)
    # -- the schedule the resuming run is launched with (a LambdaLR does not save it; analysis/schedule_config.py)
    lr_scheduler: str | None = option(
        None, "--lr-scheduler", "The resuming run's --lr_scheduler (lr_scheduler_type): a get_scheduler name "
        "(linear, cosine, cosine_with_restarts, polynomial, constant, constant_with_warmup, inverse_sqrt, "
        "cosine_with_min_lr, warmup_stable_decay, piecewise_constant, ...) or SimpleTuner's sine/cosine. With its "
        "parameters it lets ckptfix compute a LambdaLR's LRs.", metavar="NAME")
    max_train_steps: int | None = option(
        None, "--max-train-steps", "The resuming run's --max_train_steps (max_steps): the schedule's total, in "
        "optimizer steps.", metavar="T", at_least=1)
    lr_num_cycles: float | None = option(
        None, "--lr-num-cycles", "The run's --lr_num_cycles (num_cycles of cosine_with_restarts and the cosines).",
        metavar="C", at_least=0)
    lr_power: float | None = option(None, "--lr-power", "The run's --lr_power (polynomial).", metavar="P", at_least=0)
    lr_min_lr_rate: float | None = option(
        None, "--lr-min-lr-rate", "min_lr_rate of cosine_with_min_lr / warmup_stable_decay's min_lr_ratio.",
        metavar="R", at_least=0)
    lr_num_decay_steps: int | None = option(
        None, "--lr-num-decay-steps", "num_decay_steps of warmup_stable_decay (kohya: --lr_decay_steps).",
        metavar="D", at_least=0)
    lr_scheduler_kwargs: str | None = option(
        None, "--lr-scheduler-kwargs", "The run's --lr_scheduler_kwargs (kohya: --lr_scheduler_args) as a JSON "
        "object: the schedule's own keyword arguments by name.", metavar="JSON")
    writer_processes: int | None = option(
        None, "--writer-processes", "Training processes of the run that WROTE the checkpoint, when the resuming run "
        "(--num-processes) has another number.", metavar="N", at_least=1)
    split_batches: bool = option(
        False, "--split-batches", "accelerate's DataLoaderConfiguration(split_batches=True): the prepared scheduler "
        "steps once per optimizer step, not N times.")
    no_step_scheduler_with_optimizer: bool = option(
        False, "--no-step-scheduler-with-optimizer", "Accelerator(step_scheduler_with_optimizer=False): the prepared "
        "scheduler steps once per call, not N times.")
    scheduler_steps_per_optimizer_step: float | None = option(
        None, "--scheduler-steps-per-optimizer-step", "How often the script steps the scheduler, per optimizer step "
        "(default: N for a scheduler accelerate prepares, 1 for the transformers Trainer); 0.5 for once per epoch "
        "of 2 optimizer steps.", metavar="K", at_least=0)
    gradient_accumulation_steps: int | None = option(
        None, "--gradient-accumulation-steps", "The run's --gradient_accumulation_steps (accelerate steps a prepared "
        "scheduler on the optimizer steps only).", metavar="A", at_least=1)
    steps_per_epoch: int | None = option(
        None, "--steps-per-epoch", "Optimizer steps per epoch of the resuming run (the diffusers scripts' "
        "num_update_steps_per_epoch: batches per process / gradient accumulation, rounded up). With "
        "--max-train-steps: the steps a resume from the middle of an epoch adds past the end.", metavar="E",
        at_least=1)
    trainer: str | None = option(
        None, "--trainer", "The trainer (and releases) that will resume: simpletuner, simpletuner>=4.10, "
        "simpletuner==3.1.6, kohya, diffusers, accelerate, transformers, ... (an unknown name is refused with the "
        "list). Default: detected from the files, with the installed release when run in the training environment, "
        "else every modelled release.", metavar="NAME[SPEC]")
    target: str = option(
        "sine", "--target", "The formula to check against and repair to: sine (the fixed formula) or "
        "simpletuner-sine-v2 (what stock SimpleTuner runs).", metavar="PROFILE")
    skip_until_initial_step: bool | None = option(
        None, "--skip-until-initial-step", "kohya: the resuming launch gives --skip_until_initial_step (or not: "
        "--no-skip-until-initial-step). It decides how many steps the resumed run takes; no checkpoint file records "
        "it. Default: both launches are judged, and a finding says what each does when they differ.",
        off="--no-skip-until-initial-step")
    strict: bool = option(False, "--strict", "Warnings also give exit 1, and so does a checkpoint whose scheduler is "
                          "not checked.")
    recreate: bool = option(
        False, "--recreate", "Rebuild an unreadable or hostile scheduler.bin from the optimizer (needs "
        "--lr-warmup-steps).", commands=("repair",))
    optimizer_lr: bool = option(
        False, "--optimizer-lr", "Also set the optimizer's stored lr (and initial_lr) to the scheduler's, patching 8 "
        "bytes each in optimizer*.bin; tensors are never read.", commands=("repair",))

    def with_flags(self, command: str, who: str, **flags: Any) -> "Options":
        """These options with ``flags`` (field name -> value) set; ``TypeError`` naming ``who`` for a name that is
        no option of ``command`` (as Python says of an unexpected keyword argument)."""
        specs = {s.name: s for s in option_specs(command)}
        for name in flags:
            if name not in specs:
                raise TypeError(f"{who}() got an unexpected keyword argument {name!r}")
        return replace(self, **flags) if flags else self


class OptionSpec:
    """One field of ``Options`` as everything derived from it sees it: ``name``, ``type`` (int, float, str or bool;
    None is allowed when the default is None), ``default``, ``flag``. A plain class, as ``Flag``."""

    __slots__ = ("default", "flag", "name", "type")

    def __init__(self, name: str, type: type, default: Any, flag: Flag) -> None:  # noqa: A002 - the field's type
        self.name, self.type, self.default, self.flag = name, type, default, flag

    def words(self, value: Any) -> list[str]:
        """``value`` stated as command-line words (``["--lr-end", "1e-06"]``); none for the default. Floats as
        ``repr`` writes them (the shortest text that reads back as the same float), strings shell-quoted by the
        caller."""
        if value == self.default or value is None:
            return []
        if self.type is bool:
            return [self.flag.flag] if value else [self.flag.off] if self.flag.off else []
        return [self.flag.flag, repr(value) if self.type is float else str(value)]


def _base_type(annotation: Any) -> type:
    """``int`` for ``int`` and ``int | None``."""
    if get_origin(annotation) in (Union, types.UnionType):
        (only,) = [a for a in get_args(annotation) if a is not type(None)]
        return only
    return annotation


_SPECS: dict[str | None, tuple[OptionSpec, ...]] = {}


def option_specs(command: str | None = None) -> tuple[OptionSpec, ...]:
    """Every option (``command``: only those of ``inspect`` or ``repair``), in field order; derived once."""
    if None not in _SPECS:
        hints = Options.__annotations__
        _SPECS[None] = tuple(OptionSpec(name, _base_type(hints[name]), Options.__record_defaults__[name], flag)
                             for name, flag in fields_meta(Options).items())
    if command not in _SPECS:
        _SPECS[command] = tuple(s for s in _SPECS[None] if command in s.flag.commands)
    return _SPECS[command]


def with_option_parameters(command: str, parameter: Callable[[OptionSpec], Parameter]) -> Callable[[_F], _F]:
    """A decorator: the function's ``**options`` shown as one parameter per option of ``command`` (after its own),
    each made by ``parameter`` (the CLI's Typer options, the API's plain keywords): the signature is derived from
    the record, never written by hand."""

    def wrap(func: _F) -> _F:
        sig = signature(func)
        own = [p for p in sig.parameters.values() if p.kind is not Parameter.VAR_KEYWORD]
        func.__signature__ = sig.replace(parameters=own + [parameter(s) for s in option_specs(command)])  # type: ignore[attr-defined]
        return func

    return wrap
