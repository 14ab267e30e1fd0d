"""The reference ``Sine`` LR scheduler (the fixed formula) as a torch ``LRScheduler``.

Imports torch: reach it through ``ckptfix.schedulers.Sine`` (lazy) so the read path stays torch-free.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from .formulas import check_int, sine_lr, sine_position, truncate_lr

__all__ = ["Sine"]


class Sine(LRScheduler):
    """``lr = eta_min + (base_lr - eta_min) * (0.5 + 0.5*cos(2*pi*T_cur/T_i))``, stored truncated.

    Drop-in for SimpleTuner's ``Sine(optimizer, T_0, T_mult=1, eta_min=0, last_step=-1, verbose=False)``
    (the pre-05a3c37 class also took ``steps_per_epoch`` third; here it is keyword-only, unused, and
    kept in the state as ``-1`` like the pre-fix class wrote it). ``verbose`` is only stored.

    Unlike SimpleTuner's classes, ``step`` derives ``(T_cur, T_i)`` from ``last_epoch`` alone
    (:func:`~ckptfix.schedulers.formulas.sine_position`), so a state saved at any step and loaded
    into a fresh instance continues exactly like an uninterrupted run, also with ``T_mult > 1`` and
    when the trainer overwrites ``last_epoch`` on resume. ``_step_count`` follows torch (``+1`` per step).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        T_0: int,
        T_mult: int = 1,
        eta_min: float = 0,
        last_step: int = -1,
        verbose: bool = False,
        *,
        steps_per_epoch: int = -1,
    ) -> None:
        if isinstance(T_0, bool) or not isinstance(T_0, int) or T_0 <= 0:
            raise ValueError(f"Sine learning rate expects positive integer T_0, but got {T_0}")
        if isinstance(T_mult, bool) or not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.T_cur = last_step
        self.eta_min = eta_min
        self.steps_per_epoch = steps_per_epoch
        self.verbose = verbose
        super().__init__(optimizer, last_epoch=last_step)

    def get_lr(self) -> list[float]:
        """Truncated LRs at the current ``(T_cur, T_i)``; call :meth:`step` to advance."""
        return [
            truncate_lr(sine_lr(float(base_lr), float(self.eta_min), self.T_cur, self.T_i))
            for base_lr in self.base_lrs
        ]

    def step(self, epoch: int | None = None) -> None:  # type: ignore[override]
        """Advance one step (or jump to ``epoch``) and write the truncated LRs into the optimizer."""
        self._step_count += 1
        if epoch is None:
            self.last_epoch = check_int("last_epoch", self.last_epoch, -1) + 1
        else:
            self.last_epoch = check_int("epoch", epoch, 0)
        self.T_cur, self.T_i = sine_position(self.last_epoch, self.T_0, self.T_mult)
        self._get_lr_called_within_step = True
        try:
            values = self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr
        self._last_lr = [
            g["lr"].clone() if isinstance(g["lr"], torch.Tensor) else g["lr"]
            for g in self.optimizer.param_groups
        ]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state; a ``total_steps`` key (SimpleTuner v2) is ignored.

        accelerate treats a ``total_steps`` attribute as a step budget and stops stepping once
        ``_step_count`` exceeds it, which would freeze the LR.
        """
        self.__dict__.update({k: v for k, v in state_dict.items() if k != "total_steps"})
