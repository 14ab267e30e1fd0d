"""Which trainer's rules a verdict uses, and for which of its releases (pure).

In this order: ``--trainer NAME[SPEC]``; else the trainer detected from the checkpoint's files, with the
rules of its installed release when ckptfix runs in the training environment (``RunFacts.installed``);
else every modelled release, each evaluated, the report saying which releases the verdict holds for.
"""

from __future__ import annotations

from ckptfix.analysis.report import Options, RulesChoice, RunFacts
from ckptfix.errors import UsageError
from ckptfix.model.checkpoint import Checkpoint
from ckptfix.model.trainers import WriterRules, get_trainer, parse_spec, parse_version, trainer_option
from ckptfix.schedulers.reference import TARGETS

__all__ = ["check_trainer_option", "choose_rules", "writers_of"]


def check_trainer_option(opts: Options) -> None:
    """``UsageError`` for a ``--trainer`` or ``--target`` ckptfix cannot use (before any file is read)."""
    if opts.target not in TARGETS:
        raise UsageError(f"--target {opts.target!r}: one of {', '.join(TARGETS)}")
    if opts.trainer is None:
        return
    spec = trainer_option(opts.trainer)
    model = get_trainer(spec.name)
    if not model.rules_for(spec.versions):
        modelled = ", ".join(r.versions.label for r in model.rules)
        raise UsageError(f"--trainer {opts.trainer!r}: ckptfix models {model.title} {modelled} only")


def choose_rules(detected: str, opts: Options, facts: RunFacts = RunFacts()) -> RulesChoice:
    """The rules for a checkpoint whose files say ``detected`` wrote it (see the module docstring)."""
    if opts.trainer is not None:
        spec = parse_spec(opts.trainer)
        model = get_trainer(spec.name)
        return RulesChoice(model.name, model.title, model.rules_for(spec.versions), f"--trainer {spec.text}")
    model = get_trainer(detected)
    if len(model.rules) == 1:
        return RulesChoice(model.name, model.title, model.rules, "detected from the checkpoint's files")
    version = dict(facts.installed or ()).get(model.package or "")
    if version is not None:
        v = parse_version(version)
        rules = tuple(r for r in model.rules if v is not None and r.versions.contains(v))
        if rules:
            return RulesChoice(model.name, model.title, rules, f"{model.package} {version} installed here")
        return RulesChoice(model.name, model.title, model.rules,
                           f"{model.package} {version} installed here is not a modelled release: every modelled release")
    return RulesChoice(model.name, model.title, model.rules,
                       f"every modelled release (pass --trainer {model.name}==VERSION, or run ckptfix where "
                       f"{model.package} is installed, to check one)")


def writers_of(ck: Checkpoint, choice: RulesChoice) -> tuple[WriterRules, ...]:
    """The releases of ``choice``'s trainer that can have written ``ck`` (who saved: what its per-rank files
    count): those its files date it to, of which the resuming releases when the files allow them."""
    names = frozenset(f for f in ck.files or () if "/" not in f)
    if ck.files is None:  # a layout that did not list the folder: what the model recorded
        names = frozenset(n for n, there in (("checkpoint_manifest.json", ck.has_manifest), (".guard", ck.has_guard))
                          if there)
    return get_trainer(choice.trainer).writers_of(names, tuple(r.versions for r in choice.rules))
