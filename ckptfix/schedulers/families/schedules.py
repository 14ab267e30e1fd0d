"""The LambdaLR lambdas a run's configuration names: transformers' and diffusers' ``get_scheduler``, and the
trainer factories built on them (SimpleTuner 3.1.6 ``get_lr_scheduler``, kohya sd-scripts ``get_scheduler_fix``).

A ``LambdaLR`` state does not keep its lambda, so the multiplier at a position comes from the configuration:
``transformers_schedule``, ``diffusers_schedule``, ``simpletuner_schedule`` and ``kohya_schedule`` route the
configured values the way each library's factory does (which argument reaches which lambda, with which
default) and return a ``Schedule`` whose ``factor(step)`` is the lambda, with the library's own expressions in
their order (bit-identical LRs: ``base_lr * factor(last_epoch)``). Sources (line numbers of the installed files):

- transformers 5.24.0 ``transformers/optimization.py`` (lambdas L35-506, ``get_scheduler`` L960-1054;
  ``_get_cosine_schedule_with_warmup_lr_lambda`` is defined twice, L134 and L326, and the second, with
  ``min_lr_rate = 0.0``, is the one ``cosine`` uses: the same values).
- diffusers 0.42.1 ``diffusers/optimization.py`` (lambdas L39-282, ``get_scheduler`` L296-368).
- SimpleTuner 3.1.6 ``simpletuner/helpers/training/custom_schedule.py`` (polynomial L102-154,
  ``get_lr_scheduler`` L467-542).
- kohya-ss/sd-scripts ``library/train_util.py`` at 48d368f (2026-02-16): ``get_scheduler_fix`` L5265-5399,
  which calls transformers' ``TYPE_TO_SCHEDULER_FUNCTION`` (its requirements pin transformers 4.54.1) and
  diffusers' for ``piecewise_constant``.

Where the libraries differ: diffusers' ``get_scheduler`` passes ``num_cycles`` only to
``cosine_with_restarts`` (default 1; its ``cosine`` keeps 0.5) and ``power`` only to ``polynomial``, whose
``lr_end`` it cannot set (always 1e-7); transformers passes ``scheduler_specific_kwargs`` through (``lr_end``,
``power``, ``num_cycles``, ``min_lr`` ...). The polynomial lambda divides by the optimizer's *default* lr
(``optimizer.defaults["lr"]``, the configured learning rate), not each group's. kohya does not multiply an
integer warmup by the number of processes while it multiplies the total; it halves ``num_cycles`` for
``cosine_with_min_lr`` and ``warmup_stable_decay``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from ckptfix.records import Record

__all__ = [
    "FACTORIES",
    "KOHYA_SOURCE",
    "Schedule",
    "ScheduleInputs",
    "build_schedule",
    "diffusers_schedule",
    "diffusers_scripts_schedule",
    "hf_trainer_schedule",
    "kohya_schedule",
    "simpletuner_schedule",
    "transformers_schedule",
]

TF = "transformers 5.24.0 transformers/optimization.py"
DF = "diffusers 0.42.1 diffusers/optimization.py"
ST = "SimpleTuner 3.1.6 simpletuner/helpers/training/custom_schedule.py"
KOHYA_SOURCE = "kohya-ss/sd-scripts 48d368f library/train_util.py"

#: ``lambda`` has a multiplier; ``no-position`` follows a metric (plateau, greedy); ``optimizer`` takes its LR
#: from the optimizer (transformers' AdafactorSchedule); ``class`` is not a LambdaLR (SimpleTuner's own
#: Sine/Cosine/CosineAnnealingHardRestarts, checked by ckptfix's sine profiles).
Kind = Literal["lambda", "no-position", "optimizer", "class"]


# --- the lambdas, each as its library writes it ---------------------------------------------------------------

def _tf_constant(step: int, p: Mapping[str, Any]) -> float:
    return 1  # _get_constant_lambda (L35)


def _tf_constant_with_warmup(step: int, p: Mapping[str, Any]) -> float:
    w = p["num_warmup_steps"]
    if step < w:
        return float(step) / float(max(1.0, w))
    return 1.0


def _tf_linear(step: int, p: Mapping[str, Any]) -> float:
    w, t = p["num_warmup_steps"], p["num_training_steps"]
    if step < w:
        return float(step) / float(max(1, w))
    return max(0.0, float(t - step) / float(max(1, t - w)))


def _tf_cosine(step: int, p: Mapping[str, Any]) -> float:  # the L326 definition, min_lr_rate 0.0 for "cosine"
    w, t, cycles, rate = p["num_warmup_steps"], p["num_training_steps"], p["num_cycles"], p.get("min_lr_rate", 0.0)
    if step < w:
        return float(step) / float(max(1, w))
    progress = float(step - w) / float(max(1, t - w))
    factor = 0.5 * (1.0 + math.cos(math.pi * float(cycles) * 2.0 * progress))
    factor = factor * (1 - rate) + rate
    return max(0, factor)


def _tf_cosine_with_restarts(step: int, p: Mapping[str, Any]) -> float:
    w, t, cycles = p["num_warmup_steps"], p["num_training_steps"], p["num_cycles"]
    if step < w:
        return float(step) / float(max(1, w))
    progress = float(step - w) / float(max(1, t - w))
    if progress >= 1.0:
        return 0.0
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * ((float(cycles) * progress) % 1.0))))


def _tf_polynomial(step: int, p: Mapping[str, Any]) -> float:
    w, t, lr_end, power, lr_init = (p["num_warmup_steps"], p["num_training_steps"], p["lr_end"], p["power"],
                                    p["lr_init"])
    if step < w:
        return float(step) / float(max(1, w))
    elif step > t:
        return lr_end / lr_init
    else:
        lr_range = lr_init - lr_end
        decay_steps = t - w
        pct_remaining = 1 - (step - w) / decay_steps
        decay = lr_range * pct_remaining**power + lr_end
        return decay / lr_init


def _tf_inverse_sqrt(step: int, p: Mapping[str, Any]) -> float:
    w, timescale = p["num_warmup_steps"], p["timescale"]
    if step < w:
        return float(step) / float(max(1, w))
    shift = timescale - w
    decay = 1.0 / math.sqrt((step + shift) / timescale)
    return decay


def _tf_cosine_warmup_with_min_lr(step: int, p: Mapping[str, Any]) -> float:
    current_step = float(step)
    num_warmup_steps = float(p["num_warmup_steps"])
    num_training_steps = float(p["num_training_steps"])
    cycles, rate, warmup_rate = p["num_cycles"], p["min_lr_rate"], p.get("warmup_lr_rate")
    if current_step < num_warmup_steps:
        if warmup_rate is None:
            return (current_step + 1.0) / max(1.0, num_warmup_steps)
        else:
            warmup_rate = float(warmup_rate)
            return warmup_rate + (1.0 - warmup_rate) * (current_step) / (max(1, num_warmup_steps - 1))
    progress = (current_step - num_warmup_steps + 1.0) / (max(1.0, num_training_steps - num_warmup_steps))
    factor = 0.5 * (1.0 + math.cos(math.pi * cycles * 2.0 * progress))
    factor = factor * (1 - rate) + rate
    return max(0, factor)


def _tf_wsd(step: int, p: Mapping[str, Any]) -> float:
    w, stable, decay = p["num_warmup_steps"], p["num_stable_steps"], p["num_decay_steps"]
    warmup_type, decay_type, ratio, cycles = p["warmup_type"], p["decay_type"], p["min_lr_ratio"], p["num_cycles"]
    if step < w:
        progress = float(step) / float(max(1, w))
        if warmup_type == "linear":
            factor = progress
        elif warmup_type == "cosine":
            factor = 0.5 * (1.0 - math.cos(math.pi * progress))
        elif warmup_type == "1-sqrt":
            factor = 1.0 - math.sqrt(1.0 - progress)
        factor = factor * (1.0 - ratio) + ratio
        return max(0.0, factor)
    if step < w + stable:
        return 1.0
    if step < w + stable + decay:
        progress = float(step - w - stable) / float(max(1, decay))
        if decay_type == "linear":
            factor = 1.0 - progress
        elif decay_type == "cosine":
            factor = 0.5 * (1.0 + math.cos(math.pi * float(cycles) * 2.0 * progress))
        elif decay_type == "1-sqrt":
            factor = 1.0 - math.sqrt(progress)
        factor = factor * (1.0 - ratio) + ratio
        return max(0.0, factor)
    return ratio


def _df_constant(step: int, p: Mapping[str, Any]) -> float:
    return 1  # lambda _: 1 (L52)


def _df_linear(step: int, p: Mapping[str, Any]) -> float:
    w, t, f_min, f_max = p["num_warmup_steps"], p["num_training_steps"], p.get("f_min", 0.0), p.get("f_max", 1.0)
    if step < w:
        return f_max * float(step) / float(max(1, w))
    progress = float(t - step) / float(max(1, t - w))
    return f_min + (f_max - f_min) * max(0.0, progress)


def _df_cosine(step: int, p: Mapping[str, Any]) -> float:
    w, t, cycles = p["num_warmup_steps"], p["num_training_steps"], p["num_cycles"]
    if step < w:
        return float(step) / float(max(1, w))
    progress = float(step - w) / float(max(1, t - w))
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * float(cycles) * 2.0 * progress)))


def _df_piecewise_constant(step: int, p: Mapping[str, Any]) -> float:
    rules, last = p["rules"], p["last_lr_multiple"]
    sorted_steps = sorted(rules.keys())
    for i, sorted_step in enumerate(sorted_steps):
        if step < sorted_step:
            return rules[sorted_steps[i]]
    return last


def _st_polynomial(step: int, p: Mapping[str, Any]) -> float:
    w, t, lr_end, power, lr_init = (p["num_warmup_steps"], p["num_training_steps"], p["lr_end"], p["power"],
                                    p["lr_init"])
    if step < w:
        return float(step) / float(max(1, w))
    elif step > t:
        return float(lr_end) / float(lr_init)
    else:
        lr_range = float(lr_init) - float(lr_end)
        decay_steps = int(t) - int(w)
        pct_remaining = 1 - (step - int(w)) / decay_steps
        decay = lr_range * pct_remaining**power + float(lr_end)
        return decay / float(lr_init)


_LAMBDAS: dict[str, Callable[[int, Mapping[str, Any]], float]] = {
    "transformers:constant": _tf_constant,
    "transformers:constant_with_warmup": _tf_constant_with_warmup,
    "transformers:linear": _tf_linear,
    "transformers:cosine": _tf_cosine,
    "transformers:cosine_with_restarts": _tf_cosine_with_restarts,
    "transformers:polynomial": _tf_polynomial,
    "transformers:inverse_sqrt": _tf_inverse_sqrt,
    "transformers:cosine_with_min_lr": _tf_cosine,
    "transformers:cosine_warmup_with_min_lr": _tf_cosine_warmup_with_min_lr,
    "transformers:warmup_stable_decay": _tf_wsd,
    "diffusers:constant": _df_constant,
    "diffusers:constant_with_warmup": _tf_constant_with_warmup,  # the same expression (L72-77)
    "diffusers:linear": _df_linear,
    "diffusers:cosine": _df_cosine,
    "diffusers:cosine_with_restarts": _tf_cosine_with_restarts,  # the same expression (L219-225)
    "diffusers:polynomial": _tf_polynomial,  # the same expression (L270-280)
    "diffusers:piecewise_constant": _df_piecewise_constant,
    "simpletuner:polynomial": _st_polynomial,
}


class Schedule(Record):
    """A configured schedule: ``library:name`` with the parameters its factory passes (``params``), what kind
    it is, the factory's source, and how torch saves its lambda (``None``: a function; ``{}``: a
    ``functools.partial``) for comparison with a state's ``lr_lambdas``."""

    library: str
    name: str
    params: Mapping[str, Any]
    kind: Kind
    source: str
    saved_lambda: Literal["None", "{}", ""] = ""

    @property
    def key(self) -> str:
        return f"{self.library}:{self.name}"

    def factor(self, step: int) -> float:
        """The multiplier at ``last_epoch = step`` (``LambdaLR``: ``lr = base_lr * factor``)."""
        fn = _LAMBDAS.get(self.key)
        if self.kind != "lambda" or fn is None:
            raise ValueError(f"{self.key} is not a LambdaLR lambda ({self.kind})")
        return fn(step, self.params)

    def lrs(self, base_lrs: Sequence[float], step: int) -> list[float]:
        f = self.factor(step)
        return [base_lr * f for base_lr in base_lrs]


# --- the factories' routing ---------------------------------------------------------------------------------

_TF_NAMES = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
             "inverse_sqrt", "reduce_lr_on_plateau", "cosine_with_min_lr", "cosine_warmup_with_min_lr",
             "warmup_stable_decay", "greedy")
_DF_NAMES = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
             "piecewise_constant")


def _unknown(kwargs: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    extra = sorted(set(kwargs) - set(allowed))
    if extra:
        raise ValueError(f"{where} got unexpected arguments {', '.join(extra)} (the library raises TypeError)")


def _tf_lambda(name: str, params: dict[str, Any], line: str, saved: Literal["None", "{}"] = "{}") -> Schedule:
    return Schedule("transformers", name, params, "lambda", f"{TF}:{line}", saved)


def transformers_schedule(name: str, *, num_warmup_steps: int | None = None, num_training_steps: int | None = None,
                          scheduler_specific_kwargs: Mapping[str, Any] | None = None,
                          optimizer_lr: float | None = None) -> Schedule:
    """``transformers.get_scheduler(name, optimizer, num_warmup_steps, num_training_steps,
    scheduler_specific_kwargs)`` (L960-1054). ``optimizer_lr``: ``optimizer.defaults["lr"]`` (the configured
    learning rate), which ``polynomial`` and ``cosine_with_min_lr``'s ``min_lr`` divide by. ``ValueError``
    where the library raises."""
    if name not in _TF_NAMES:
        raise ValueError(f"{name!r} is not a valid SchedulerType (transformers: {', '.join(_TF_NAMES)})")
    kw = dict(scheduler_specific_kwargs or {})
    if name == "constant":
        return Schedule("transformers", name, {}, "lambda", f"{TF}:35-53", "None")
    if name in ("reduce_lr_on_plateau", "greedy"):
        return Schedule("transformers", name, kw, "no-position", f"{TF}:56-71" if name != "greedy" else f"{TF}:928-941")
    if num_warmup_steps is None:
        raise ValueError(f"{name} requires `num_warmup_steps`, please provide that argument.")
    w = num_warmup_steps
    if name == "constant_with_warmup":
        return _tf_lambda(name, {"num_warmup_steps": w}, "74-98")
    if name == "inverse_sqrt":
        _unknown(kw, ("timescale",), "get_inverse_sqrt_schedule")
        timescale = kw.get("timescale")
        if timescale is None:
            timescale = w or 10_000
        return _tf_lambda(name, {"num_warmup_steps": w, "timescale": timescale}, "288-323")
    if name == "warmup_stable_decay":
        return _wsd(w, num_training_steps, kw)
    if num_training_steps is None:
        raise ValueError(f"{name} requires `num_training_steps`, please provide that argument.")
    t = num_training_steps
    base = {"num_warmup_steps": w, "num_training_steps": t}
    if name == "linear":
        _unknown(kw, (), "get_linear_schedule_with_warmup")
        return _tf_lambda(name, base, "101-131")
    if name == "cosine":
        _unknown(kw, ("num_cycles",), "get_cosine_schedule_with_warmup")
        return _tf_lambda(name, {**base, "num_cycles": kw.get("num_cycles", 0.5), "min_lr_rate": 0.0}, "326-334, 143-174")
    if name == "cosine_with_restarts":
        _unknown(kw, ("num_cycles",), "get_cosine_with_hard_restarts_schedule_with_warmup")
        return _tf_lambda(name, {**base, "num_cycles": kw.get("num_cycles", 1)}, "177-218")
    if name == "polynomial":
        _unknown(kw, ("lr_end", "power"), "get_polynomial_decay_schedule_with_warmup")
        lr_end, power = kw.get("lr_end", 1e-7), kw.get("power", 1.0)
        _lr_init(optimizer_lr, lr_end)
        return _tf_lambda(name, {**base, "lr_end": lr_end, "power": power, "lr_init": optimizer_lr}, "221-285")
    _unknown(kw, ("num_cycles", "min_lr", "min_lr_rate") + (("warmup_lr_rate",) if name == "cosine_warmup_with_min_lr"
                                                              else ()), f"{name} schedule")
    rate = _min_lr_rate(kw.get("min_lr"), kw.get("min_lr_rate"), optimizer_lr)
    params = {**base, "num_cycles": kw.get("num_cycles", 0.5), "min_lr_rate": rate}
    if name == "cosine_with_min_lr":
        return _tf_lambda(name, params, "326-386")
    return _tf_lambda(name, {**params, "warmup_lr_rate": kw.get("warmup_lr_rate")}, "389-467")


def hf_trainer_schedule(lr_scheduler_type: str, *, num_training_steps: int, warmup_steps: int | float = 0,
                        warmup_ratio: float | None = None, lr_scheduler_kwargs: Mapping[str, Any] | None = None,
                        learning_rate: float | None = None) -> Schedule:
    """What the HF Trainer builds (``create_scheduler``, transformers 5.24.0 ``trainer.py`` L1347-1374):
    ``get_scheduler(lr_scheduler_type, num_warmup_steps=args.get_warmup_steps(T), num_training_steps=T,
    scheduler_specific_kwargs=args.lr_scheduler_kwargs)`` with ``T`` the run's total (``trainer_state.json``
    ``max_steps``). ``get_warmup_steps``: from 5.0 a float ``warmup_steps < 1`` is a ratio, ``int(w)`` else
    (``training_args.py`` L2154-2161); before 5.0 ``warmup_steps`` if positive, else ``ceil(T × warmup_ratio)``
    (4.57.6 L2551-2558, 4.30.2 L1976-1983) -- the 4.x rule applies when ``warmup_ratio`` is given. Transformers
    before about 4.36 saved its lambdas as closures (``lr_lambdas [None]``); the values are the same."""
    t = num_training_steps
    if warmup_ratio is not None:
        w = warmup_steps if warmup_steps > 0 else math.ceil(t * warmup_ratio)
    else:
        w = int(warmup_steps) if warmup_steps >= 1 else math.ceil(t * warmup_steps)
    s = transformers_schedule(lr_scheduler_type, num_warmup_steps=w, num_training_steps=t,
                              scheduler_specific_kwargs=lr_scheduler_kwargs, optimizer_lr=learning_rate)
    return Schedule(s.library, s.name, s.params, s.kind, f"{s.source}; via transformers 5.24.0 trainer.py:1347-1374",
                    s.saved_lambda)


def _lr_init(optimizer_lr: float | None, lr_end: float) -> None:
    if optimizer_lr is None:
        raise ValueError("polynomial needs the optimizer's default lr (the configured learning rate)")
    if not (optimizer_lr > lr_end):
        raise ValueError(f"lr_end ({lr_end}) must be smaller than initial lr ({optimizer_lr})")


def _min_lr_rate(min_lr: float | None, min_lr_rate: float | None, optimizer_lr: float | None) -> float:
    if min_lr is not None and min_lr_rate is not None:
        raise ValueError("Only one of min_lr or min_lr_rate should be set")
    if min_lr is not None:
        if optimizer_lr is None:
            raise ValueError("min_lr needs the optimizer's default lr (the configured learning rate)")
        return min_lr / optimizer_lr
    if min_lr_rate is None:
        raise ValueError("One of min_lr or min_lr_rate should be set through the `lr_scheduler_kwargs`")
    return min_lr_rate


def _wsd(w: int, t: int | None, kw: Mapping[str, Any]) -> Schedule:
    _unknown(kw, ("num_decay_steps", "num_stable_steps", "warmup_type", "decay_type", "min_lr_ratio", "num_cycles"),
             "get_wsd_schedule")
    if "num_decay_steps" not in kw:
        raise ValueError("get_wsd_schedule() missing 1 required argument: 'num_decay_steps'")
    stable = kw.get("num_stable_steps")
    if t is None and stable is None:
        raise ValueError("Either num_training_steps or num_stable_steps must be specified.")
    warmup_type, decay_type = kw.get("warmup_type", "linear"), kw.get("decay_type", "cosine")
    for what, v in (("warmup", warmup_type), ("decay", decay_type)):
        if v not in ("linear", "cosine", "1-sqrt"):
            raise ValueError(f"Unknown {what} type: {v}, expected 'linear', 'cosine' or '1-sqrt'")
    decay = kw["num_decay_steps"]
    if stable is None:
        stable = t - w - decay
    params = {"num_warmup_steps": w, "num_stable_steps": stable, "num_decay_steps": decay, "warmup_type": warmup_type,
              "decay_type": decay_type, "min_lr_ratio": kw.get("min_lr_ratio", 0), "num_cycles": kw.get("num_cycles", 0.5)}
    return _tf_lambda("warmup_stable_decay", params, "470-578")


def diffusers_schedule(name: str, *, step_rules: str | None = None, num_warmup_steps: int | None = None,
                       num_training_steps: int | None = None, num_cycles: int = 1, power: float = 1.0,
                       optimizer_lr: float | None = None) -> Schedule:
    """``diffusers.optimization.get_scheduler`` (L296-368): every lambda is a closure (saved as ``None``)."""
    if name not in _DF_NAMES:
        raise ValueError(f"{name!r} is not a valid SchedulerType (diffusers: {', '.join(_DF_NAMES)})")

    def make(params: dict[str, Any], lines: str) -> Schedule:
        return Schedule("diffusers", name, params, "lambda", f"{DF}:{lines}", "None")

    if name == "constant":
        return make({}, "39-52")
    if name == "piecewise_constant":
        return make(_step_rules(step_rules), "80-119")
    if num_warmup_steps is None:
        raise ValueError(f"{name} requires `num_warmup_steps`, please provide that argument.")
    if name == "constant_with_warmup":
        return make({"num_warmup_steps": num_warmup_steps}, "55-77")
    if num_training_steps is None:
        raise ValueError(f"{name} requires `num_training_steps`, please provide that argument.")
    base = {"num_warmup_steps": num_warmup_steps, "num_training_steps": num_training_steps}
    if name == "cosine_with_restarts":
        return make({**base, "num_cycles": num_cycles}, "195-227")
    if name == "polynomial":
        _lr_init(optimizer_lr, 1e-7)
        return make({**base, "lr_end": 1e-7, "power": power, "lr_init": optimizer_lr}, "230-282")
    if name == "cosine":
        return make({**base, "num_cycles": 0.5}, "161-192")
    return make({**base, "f_min": 0.0, "f_max": 1.0}, "122-158")


def _step_rules(step_rules: str | None) -> dict[str, Any]:
    """diffusers' ``get_piecewise_constant_schedule`` parsing (L99-105): ``"1:10,0.1:20,0.01"``."""
    if not isinstance(step_rules, str):
        raise ValueError("piecewise_constant needs step_rules, e.g. '1:10,0.1:20,0.01' (the library crashes without)")
    rules: dict[int, float] = {}
    rule_list = step_rules.split(",")
    try:
        for rule_str in rule_list[:-1]:
            value_str, steps_str = rule_str.split(":")
            rules[int(steps_str)] = float(value_str)
        last = float(rule_list[-1])
    except ValueError:
        raise ValueError(f"step_rules {step_rules!r} is not 'value:step,...,value'") from None
    return {"rules": rules, "last_lr_multiple": last}


def simpletuner_schedule(name: str, *, lr_warmup_steps: int | None, max_train_steps: int | None, num_processes: int,
                         lr_end: float = 4e-7, lr_power: float = 0.8, lr_num_cycles: int = 1,
                         learning_rate: float | None = None) -> Schedule:
    """SimpleTuner 3.1.6 ``get_lr_scheduler`` (L467-542): warmup and total are multiplied by the number of
    processes. ``sine``, ``cosine`` and ``cosine_with_restarts`` are its own classes (``kind="class"``, with
    ``T_0 = warmup × N`` and ``eta_min = lr_end``); ``polynomial`` its own LambdaLR (L102-154); anything else
    goes to diffusers' ``get_scheduler`` with ``num_cycles`` and ``power``. (Defaults of 3.1.6's ``--lr_end``
    4e-7, ``--lr_power`` 0.8, ``--lr_num_cycles`` 1: ``simpletuner_sdk/server/services/field_registry/sections/``
    ``advanced.py:581-587``, ``training.py:613-640``.)"""
    w = lr_warmup_steps * num_processes if lr_warmup_steps is not None else None
    t = max_train_steps * num_processes if max_train_steps is not None else None
    if name in ("sine", "cosine", "cosine_with_restarts"):
        if w is None:
            raise ValueError(f"{name} requires `num_warmup_steps` (T_0 = lr_warmup_steps × N)")
        cls = {"sine": "Sine", "cosine": "Cosine", "cosine_with_restarts": "CosineAnnealingHardRestarts"}[name]
        lines = {"sine": "497-508", "cosine": "509-520", "cosine_with_restarts": "482-496"}[name]
        return Schedule("simpletuner", name, {"class": cls, "T_0": int(w), "T_mult": 1, "eta_min": float(lr_end)},
                        "class", f"{ST}:{lines}")
    if name == "polynomial":
        _lr_init(learning_rate, lr_end)
        if w is None or t is None:
            raise ValueError("polynomial requires `num_warmup_steps` and `num_training_steps`")
        return Schedule("simpletuner", name, {"num_warmup_steps": w, "num_training_steps": t, "lr_end": lr_end,
                                              "power": lr_power, "lr_init": learning_rate}, "lambda",
                        f"{ST}:102-154, 521-530", "None")
    s = diffusers_schedule(name, num_warmup_steps=w, num_training_steps=t, num_cycles=lr_num_cycles, power=lr_power,
                           optimizer_lr=learning_rate)
    return Schedule("diffusers", s.name, s.params, s.kind, f"{s.source}; via {ST}:531-540", s.saved_lambda)


def kohya_schedule(name: str, *, lr_warmup_steps: int | float = 0, lr_decay_steps: int | float = 0,
                   max_train_steps: int, num_processes: int, lr_scheduler_num_cycles: int = 1,
                   lr_scheduler_power: float = 1.0, lr_scheduler_timescale: int | None = None,
                   lr_scheduler_min_lr_ratio: float | None = None, lr_scheduler_args: Mapping[str, Any] | None = None,
                   lr_scheduler_type: str = "", learning_rate: float | None = None) -> Schedule:
    """kohya sd-scripts ``get_scheduler_fix`` (``library/train_util.py`` L5265-5399): the total is
    ``max_train_steps × N`` (L5274); an integer warmup (or decay) is taken as given, *not* multiplied by N, a
    float is a ratio of the total (L5275-5280); ``adafactor:<lr>`` is transformers' ``AdafactorSchedule`` (the
    LR comes from the optimizer, L5313-5319); ``piecewise_constant`` is diffusers' (L5321-5324); everything else
    transformers' lambda with kohya's own arguments: ``num_cycles`` for ``cosine_with_restarts`` (L5346-5353),
    ``num_cycles / 2`` and ``min_lr_rate`` for ``cosine_with_min_lr`` (L5360-5368) and ``warmup_stable_decay``
    (L5382-5391), ``timescale`` for ``inverse_sqrt`` (L5339-5340). ``lr_scheduler_type`` (any class by name,
    L5300-5311) is not a configured lambda: ``ValueError``."""
    kwargs = dict(lr_scheduler_args or {})
    if lr_scheduler_type:
        raise ValueError(f"--lr_scheduler_type {lr_scheduler_type}: a scheduler class built from its name; its "
                         "state is checked by its own family, not as a configured lambda")
    t = max_train_steps * num_processes
    w = int(lr_warmup_steps * t) if isinstance(lr_warmup_steps, float) else lr_warmup_steps
    d = int(lr_decay_steps * t) if isinstance(lr_decay_steps, float) else lr_decay_steps
    src = f"{KOHYA_SOURCE}:5265-5399"

    def no_warmup() -> None:  # wrap_check_needless_num_warmup_steps (L5294-5297)
        if w is not None and w != 0:
            raise ValueError(f"{name} does not require `num_warmup_steps`. Set None or 0.")

    def via(s: Schedule) -> Schedule:
        return Schedule(s.library, s.name, s.params, s.kind, f"{s.source}; via {src}", s.saved_lambda)

    def plus(explicit: dict[str, Any]) -> dict[str, Any]:  # kohya's arguments, then **lr_scheduler_kwargs
        clash = sorted(set(explicit) & set(kwargs))
        if clash:
            raise ValueError(f"--lr_scheduler_args sets {', '.join(clash)}, which get_scheduler_fix passes too "
                             "(the library raises TypeError: multiple values)")
        return {**explicit, **kwargs}

    if name.startswith("adafactor"):
        no_warmup()
        try:
            initial_lr = float(name.split(":")[1])
        except (IndexError, ValueError):
            raise ValueError(f"--lr_scheduler {name}: expected adafactor:<initial lr>") from None
        return Schedule("transformers", "adafactor", {"initial_lr": initial_lr}, "optimizer",
                        f"{TF}:1297-1338; via {src}")
    if name == "piecewise_constant":
        _unknown(kwargs, ("step_rules", "last_epoch"), "get_piecewise_constant_schedule")
        return via(diffusers_schedule(name, step_rules=kwargs.get("step_rules")))
    if name not in _TF_NAMES:
        raise ValueError(f"{name!r} is not a valid SchedulerType (kohya uses transformers': {', '.join(_TF_NAMES)})")
    if name == "constant":
        no_warmup()
        return via(transformers_schedule(name))
    if name == "constant_with_warmup":
        return via(transformers_schedule(name, num_warmup_steps=w))
    if name == "inverse_sqrt":
        return via(transformers_schedule(name, num_warmup_steps=w, scheduler_specific_kwargs=plus({
            "timescale": lr_scheduler_timescale})))
    if name == "cosine_with_restarts":
        return via(transformers_schedule(name, num_warmup_steps=w, num_training_steps=t, scheduler_specific_kwargs=plus({
            "num_cycles": lr_scheduler_num_cycles})))
    if name == "polynomial":
        return via(transformers_schedule(name, num_warmup_steps=w, num_training_steps=t, scheduler_specific_kwargs=plus({
            "power": lr_scheduler_power}), optimizer_lr=learning_rate))
    if name == "cosine_with_min_lr":
        return via(transformers_schedule(name, num_warmup_steps=w, num_training_steps=t, scheduler_specific_kwargs=plus({
            "num_cycles": lr_scheduler_num_cycles / 2, "min_lr_rate": lr_scheduler_min_lr_ratio}),
            optimizer_lr=learning_rate))
    if name in ("linear", "cosine"):
        return via(transformers_schedule(name, num_warmup_steps=w, num_training_steps=t,
                                         scheduler_specific_kwargs=kwargs))
    if name == "warmup_stable_decay":
        ratio = lr_scheduler_min_lr_ratio if lr_scheduler_min_lr_ratio is not None else 0.0
        return via(transformers_schedule(name, num_warmup_steps=w, scheduler_specific_kwargs=plus({
            "num_stable_steps": t - w - d, "num_decay_steps": d, "num_cycles": lr_scheduler_num_cycles / 2,
            "min_lr_ratio": ratio})))
    raise ValueError(f"{name}: kohya's get_scheduler_fix passes num_training_steps and num_decay_steps, which "
                     "this schedule does not accept (the library raises TypeError)")


# --- one entry point per trainer factory (TrainerRules.factory names one) ------------------------------------

class ScheduleInputs(Record):
    """A run's schedule configuration in ckptfix's words, as the options and ``model/run_config.py`` name it;
    None: not known. ``warmup`` an int is a count of optimizer steps (kohya, the HF Trainer: a float below 1 is a
    ratio); ``total`` the run's total in optimizer steps (``--max_train_steps``, ``max_steps``); ``kwargs`` the
    run's ``--lr_scheduler_kwargs`` (kohya: ``--lr_scheduler_args``)."""

    name: str
    warmup: int | float | None = None
    warmup_ratio: float | None = None
    total: int | None = None
    num_cycles: float | None = None
    power: float | None = None
    lr_end: float | None = None
    min_lr_rate: float | None = None
    decay_steps: int | float | None = None
    kwargs: Mapping[str, Any] | None = None
    learning_rate: float | None = None


def _whole(v: float | None, default: int) -> int:
    """An argparse ``type=int`` value (``--lr_num_cycles``): a whole float as an int."""
    if v is None:
        return default
    return int(v) if float(v).is_integer() else v  # type: ignore[return-value]


#: The keyword each transformers schedule takes from ``scheduler_specific_kwargs`` for a ckptfix input
#: (what ``--lr-num-cycles`` and the like mean to the HF Trainer, which has no such arguments of its own).
_TF_KWARGS: dict[str, tuple[tuple[str, str], ...]] = {
    "cosine": (("num_cycles", "num_cycles"),),
    "cosine_with_restarts": (("num_cycles", "num_cycles"),),
    "polynomial": (("lr_end", "lr_end"), ("power", "power")),
    "cosine_with_min_lr": (("num_cycles", "num_cycles"), ("min_lr_rate", "min_lr_rate")),
    "cosine_warmup_with_min_lr": (("num_cycles", "num_cycles"), ("min_lr_rate", "min_lr_rate")),
    "warmup_stable_decay": (("decay_steps", "num_decay_steps"), ("min_lr_rate", "min_lr_ratio"),
                            ("num_cycles", "num_cycles")),
}


def _hf_trainer(c: ScheduleInputs, n: int) -> Schedule:
    """The HF Trainer: N does not enter (it steps its scheduler once per optimizer step)."""
    if c.total is None:
        raise ValueError(f"{c.name} needs the run's max_steps")
    kw = dict(c.kwargs or {})
    for ours, theirs in _TF_KWARGS.get(c.name, ()):
        v = getattr(c, ours)
        if v is not None and theirs not in kw:
            kw[theirs] = v
    return hf_trainer_schedule(c.name, num_training_steps=c.total, warmup_steps=c.warmup or 0,
                               warmup_ratio=c.warmup_ratio, lr_scheduler_kwargs=kw, learning_rate=c.learning_rate)


def diffusers_scripts_schedule(c: ScheduleInputs, n: int) -> Schedule:
    """The diffusers example scripts: ``get_scheduler(args.lr_scheduler, num_warmup_steps=args.lr_warmup_steps ×
    N, num_training_steps=args.max_train_steps × N, num_cycles=args.lr_num_cycles, power=args.lr_power)``
    (diffusers 58eb52c ``examples/text_to_image/train_text_to_image_lora.py`` L766-783,
    ``examples/dreambooth/train_dreambooth_lora.py`` L1156-1163)."""
    w = c.warmup * n if c.warmup is not None else None
    t = c.total * n if c.total is not None else None
    s = diffusers_schedule(c.name, step_rules=(c.kwargs or {}).get("step_rules"), num_warmup_steps=w,
                           num_training_steps=t, num_cycles=_whole(c.num_cycles, 1),
                           power=c.power if c.power is not None else 1.0, optimizer_lr=c.learning_rate)
    return Schedule(s.library, s.name, s.params, s.kind,
                    f"{s.source}; via diffusers 58eb52c examples/text_to_image/train_text_to_image_lora.py:766-783",
                    s.saved_lambda)


def _simpletuner(c: ScheduleInputs, n: int) -> Schedule:
    return simpletuner_schedule(c.name, lr_warmup_steps=c.warmup, max_train_steps=c.total,  # type: ignore[arg-type]
                                num_processes=n, lr_end=c.lr_end if c.lr_end is not None else 4e-7,
                                lr_power=c.power if c.power is not None else 0.8,
                                lr_num_cycles=_whole(c.num_cycles, 1), learning_rate=c.learning_rate)


def _kohya(c: ScheduleInputs, n: int) -> Schedule:
    if c.total is None:
        raise ValueError(f"{c.name} needs the run's max_train_steps (get_scheduler_fix multiplies it by N)")
    return kohya_schedule(c.name, lr_warmup_steps=c.warmup or 0, lr_decay_steps=c.decay_steps or 0,
                          max_train_steps=c.total, num_processes=n, lr_scheduler_num_cycles=_whole(c.num_cycles, 1),
                          lr_scheduler_power=c.power if c.power is not None else 1.0,
                          lr_scheduler_min_lr_ratio=c.min_lr_rate, lr_scheduler_args=c.kwargs,
                          learning_rate=c.learning_rate)


#: Each trainer factory by the name its ``TrainerRules.factory`` gives: ``(inputs, N) -> Schedule``
#: (``ValueError`` where the library raises or an input it needs is not known).
FACTORIES: dict[str, Callable[[ScheduleInputs, int], Schedule]] = {
    "hf_trainer_schedule": _hf_trainer,
    "diffusers_scripts_schedule": diffusers_scripts_schedule,
    "simpletuner_schedule": _simpletuner,
    "kohya_schedule": _kohya,
}


def build_schedule(factory: str, inputs: ScheduleInputs, n: int) -> Schedule:
    """The schedule the trainer factory ``factory`` builds from ``inputs`` with ``n`` processes."""
    try:
        return FACTORIES[factory](inputs, n)
    except (TypeError, KeyError, ZeroDivisionError) as exc:  # a value of the wrong type in the kwargs
        raise ValueError(f"{inputs.name}: {exc}") from None
