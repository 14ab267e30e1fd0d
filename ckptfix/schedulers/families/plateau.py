"""torch ``ReduceLROnPlateau``: the LR follows a metric, not a step count, so it has no position to check.

Its state keeps ``last_epoch`` (the number of ``step(metric)`` calls, from 0, not stepped at construction),
``best``, ``num_bad_epochs``, ``cooldown_counter`` and the reduction parameters: the LR at any step depends on
the metrics seen, which no checkpoint keeps. transformers' ``reduce_lr_on_plateau`` and ``greedy`` are of this
kind. ``lrs_at`` refuses; the stored ``_last_lr`` is only the LR the run had.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .interface import Context, Family, FamilyMatch, NeedsConfig
from .state import has_keys, match_from, param_int, param_real

__all__ = ["REDUCE_LR_ON_PLATEAU"]


class _Plateau(Family):
    name = "ReduceLROnPlateau"
    torch_classes = ("ReduceLROnPlateau",)
    position_keys = ()
    saved = ("factor", "min_lrs", "patience", "cooldown", "eps", "best", "num_bad_epochs", "cooldown_counter")
    has_position = False
    source = "torch 2.13.0 torch/optim/lr_scheduler.py:1584-1785"
    note = "the LR follows a metric, not the step: no position, no formula"

    def recognise(self, state: Mapping[str, Any]) -> FamilyMatch | None:
        if not has_keys(state, ("patience", "min_lrs", "factor")):
            return None
        evidence = ["keys patience, min_lrs, factor: torch ReduceLROnPlateau (driven by a metric: no position)."]
        params = {"factor": param_real(state, "factor", evidence), "patience": param_int(state, "patience", evidence, 0),
                  "metric_steps": param_int(state, "last_epoch", evidence, 0) if "last_epoch" in state else None}
        return match_from(state, self.name, self.name, params, evidence, position=None)

    def lrs_at(self, match: FamilyMatch, position: int, context: Context | None = None) -> list[float]:
        raise NeedsConfig(self.name, ("the metric history",), "the LR follows a metric, not a step count")

    def advance(self, match, lrs=None, set_last_epoch=None, steps=0, context=None) -> list[float]:
        raise NeedsConfig(self.name, ("the metric history",), "the LR follows a metric, not a step count")

    def state_at(self, match: FamilyMatch, position: int, context: Context | None = None) -> dict[str, Any]:
        return {}


REDUCE_LR_ON_PLATEAU = _Plateau()
