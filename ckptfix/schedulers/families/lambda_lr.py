"""``LambdaLR`` and ``MultiplicativeLR``: the multiplier is code, and torch does not save code.

Both states hold ``lr_lambdas``: one entry per param group, ``None`` for a plain function or lambda (the
diffusers scripts', SimpleTuner's polynomial, older transformers), or the ``__dict__`` of a callable object
(``{}`` for the ``functools.partial`` lambdas of transformers' ``get_scheduler``). The two classes' states
have the same keys, so a state is recognised as both; only the run's configuration tells them apart.

``LambdaLR``'s LR is ``base_lr × lambda(last_epoch)``: a function of the position, computable when the run's
configuration gives the lambda (``Context.lr_lambda``, e.g. a ``schedules.Schedule``). ``MultiplicativeLR``
multiplies the current LR by ``lambda(last_epoch)`` at every step: no trainer ckptfix models builds one, and
no configuration gives its lambda, so only its position is checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .interface import Context, Family, FamilyMatch, NeedsConfig
from .simulated import SimulatedFamily
from .state import match_from
from .torch_sim import Groups, SimLambda, SimMultiplicative

__all__ = ["LAMBDA_LR", "MULTIPLICATIVE_LR", "lambda_kinds", "lambda_state"]

_TORCH = "torch 2.13.0 torch/optim/lr_scheduler.py"


def lambda_kinds(lr_lambdas: Any) -> str:
    """What the saved ``lr_lambdas`` say about the lambdas (evidence only: never the formula)."""
    if not isinstance(lr_lambdas, (list, tuple)):
        return "lr_lambdas is not a list"
    kinds = set()
    for x in lr_lambdas:
        if x is None:
            kinds.add("functions (not saved)")
        elif isinstance(x, dict) and not x:
            kinds.add("callable objects with no attributes (functools.partial: transformers' get_scheduler)")
        elif isinstance(x, dict):
            kinds.add(f"callable objects with attributes {sorted(map(str, x))[:5]}")
        else:
            kinds.add("entries that are neither None nor a dict")
    return f"{len(lr_lambdas)} lr_lambdas: " + "; ".join(sorted(kinds))


class _LambdaKeyed(SimulatedFamily):
    from_config = ("the lr_lambda (e.g. --lr-scheduler NAME and its parameters)",)
    saved = ("base_lrs", "lr_lambdas")

    def recognise(self, state: Mapping[str, Any]) -> FamilyMatch | None:
        if "lr_lambdas" not in state or "last_epoch" not in state:
            return None
        evidence = [f"has 'lr_lambdas': torch LambdaLR or MultiplicativeLR ({lambda_kinds(state['lr_lambdas'])})."]
        other = MULTIPLICATIVE_LR.name if self is LAMBDA_LR else LAMBDA_LR.name
        return match_from(state, self.name, self.name, {"lr_lambdas": state["lr_lambdas"]}, evidence, also=(other,))

    def lambda_of(self, context: Context | None) -> Any:
        if context is None or context.lr_lambda is None:
            raise NeedsConfig(self.name, self.from_config, "torch does not save the lambda")
        return context.lr_lambda


class _LambdaLR(_LambdaKeyed):
    name = "LambdaLR"
    torch_classes = ("LambdaLR",)
    source = f"{_TORCH}:343-466"
    note = "lr = base_lr × lambda(last_epoch); the lambda comes from the run's configuration"

    def build(self, groups: Groups, match: FamilyMatch, context: Context | None) -> SimLambda:
        return SimLambda(groups, self.lambda_of(context))

    def lrs_at(self, match: FamilyMatch, position: int, context: Context | None = None) -> list[float]:
        lam = self.lambda_of(context)  # a function of the position: no need to replay the steps
        if position < 0:
            raise ValueError(f"{self.name}: position {position} is before the first step (0)")
        if not match.base_lrs:
            raise ValueError(f"{self.name}: base_lrs missing or not numbers")
        return [base_lr * lam(position) for base_lr in match.base_lrs]

    def advance(self, match: FamilyMatch, lrs: Sequence[float] | None = None, set_last_epoch: int | None = None,
                steps: int = 0, context: Context | None = None) -> list[float]:
        return Family.advance(self, match, lrs, set_last_epoch, steps, context)  # a function of the position


class _MultiplicativeLR(_LambdaKeyed):
    name = "MultiplicativeLR"
    torch_classes = ("MultiplicativeLR",)
    source = f"{_TORCH}:469-589"
    note = "lr_e = lr_{e-1} × lambda(e); the lambda is not saved and no trainer configuration gives it: position only"

    def build(self, groups: Groups, match: FamilyMatch, context: Context | None) -> SimMultiplicative:
        return SimMultiplicative(groups, self.lambda_of(context))


LAMBDA_LR = _LambdaLR()
MULTIPLICATIVE_LR = _MultiplicativeLR()


def lambda_state(base_lrs: Sequence[float], position: int, lrs: Sequence[float], saved_lambda: str) -> dict[str, Any]:
    """A ``LambdaLR``'s ``state_dict()`` at ``last_epoch = position``, in torch 2.13's key order (``__dict__`` without
    the optimizer, then ``lr_lambdas``), as a fresh scheduler stepped ``position`` times holds it: ``_step_count``
    ``position + 1``, ``_last_lr`` = ``lrs``; ``lr_lambdas`` one entry per group as torch saves the schedule's
    lambda: ``None`` for a function (``saved_lambda`` "None": diffusers', SimpleTuner's), ``{}`` for a
    ``functools.partial`` ("{}": transformers' ``get_scheduler``). ``LambdaLR.load_state_dict`` needs the key
    (``KeyError: 'lr_lambdas'`` without it) and restores the rest as stored."""
    if saved_lambda not in ("None", "{}"):
        raise ValueError(f"how torch saves this lambda is not known ({saved_lambda!r})")
    return {"base_lrs": [float(b) for b in base_lrs], "last_epoch": position, "_step_count": position + 1,
            "_is_initial": False, "_get_lr_called_within_step": False, "_last_lr": [float(x) for x in lrs],
            "lr_lambdas": [None if saved_lambda == "None" else {} for _ in base_lrs]}
