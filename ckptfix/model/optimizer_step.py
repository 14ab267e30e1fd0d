"""The optimizer's own step count, read from a decoded ``optimizer.state_dict()``.

Pure: works on the builtins-and-``TensorRef`` tree that ``open_torch_file`` decodes, never imports
torch nor the optimizer's package. Each family is recognised from the shape of its state (keys in the
per-parameter state and in ``param_groups``) and its count is read where that family keeps it. The
layouts were established from real state dicts (``fixtures/optimizers/``, see its README):

=============================  ================================================================
family                         where the count lives
=============================  ================================================================
torch-adam / torch-adamw,      ``state[i]["step"]``: 0-d float32 tensor (a Python int in torch
torch-adafactor, torch-adagrad, < 1.12); one per parameter, normally all equal
torch-rmsprop, torch-other
bnb-8bit / bnb-32bit           ``state[i]["step"]``: Python int (bitsandbytes; 8-bit moments in
                               ``state[i]["__bnb_optimizer_quant_state__"]`` or, before 0.45,
                               ``state[i]["state1"]``)
came                           ``state[i]["step"]``: Python int (came-pytorch)
simpletuner-adamw-bf16         ``state[i]["step"]``: Python float (SimpleTuner ``adamw_bf16``)
prodigy                        ``param_groups[g]["k"]`` int, and ``state[i]["step"]`` ints (prodigyopt)
prodigy-plus-schedule-free     ``param_groups[g]["k"]`` int, starting at 1: steps = k - 1
pytorch-optimizer-prodigy      ``param_groups[g]["step"]`` starts at 1 and its increment changed across
                               releases: reported as unknown
schedule-free                  ``param_groups[g]["k"]`` int (schedulefree) or ``param_groups[g]["step"]``
                               int (pytorch_optimizer's ScheduleFree*); no LR scheduler
pytorch-optimizer              ``param_groups[g]["step"]``: Python int (most members)
pytorch-optimizer-madgrad      ``state["k"]``: int64 tensor of shape [1]
optimi                         ``param_groups[g]["step"]``: 0-d int32 tensor (torch-optimi)
no count kept                  torch SGD, lion-pytorch, optimi Lion/SGD, SimpleTuner's
                               AdamWScheduleFreeKahan (keeps ``step`` at 0, counts in an attribute
                               that is not saved)
=============================  ================================================================

Never raises on odd *content* (wrong types, NaN, negative or fractional counts, missing keys): the
answer is then ``value=None`` with a note. Errors raised by ``read_scalars`` itself that are
``ckptfix.errors.CkptfixError`` (a truncated or corrupt storage) propagate: the file is unreadable,
which the CLI reports as such (exit 3). Any other error from ``read_scalars`` becomes a note.
The counters of one kind are read in one ``read_scalars`` call: one batch of small reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from ckptfix.errors import CkptfixError
from ckptfix.formats.objects import TensorRef
from ckptfix.records import Record

ReadScalars = Callable[[Sequence[TensorRef]], "list[int | float | bool]"]


class StepCount(Record):
    """The optimizer's own step count, or why it is unknown."""

    value: int | None  # None = unknown; never a guess
    family: str  # "torch-adamw", "bnb-8bit", "prodigy", "schedule-free", "lion", ... "unknown"
    source: str  # where it was read, human readable
    note: str | None = None  # why unknown / counts disagree / no count kept / no step taken yet
    schedule_free: bool = False  # optimizer runs without an LR scheduler


# Largest integer each float dtype holds exactly; a float step counter stops advancing there
# (torch's float32 `step` tensor saturates at 2**24 = 16,777,216: +1 no longer changes it).
_FLOAT_EXACT = {"float16": 2**11, "bfloat16": 2**8, "float32": 2**24, "float64": 2**53}
_INT_DTYPES = {"int8", "uint8", "int16", "int32", "int64", "uint16", "uint32", "uint64"}


_UNREAD = object()


class _Bad(Exception):
    """A counter value that is not a usable count; the message says why."""


def _plain_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _describe(v: Any) -> str:
    if isinstance(v, TensorRef):
        kind = "0-d" if not v.shape else f"shape {list(v.shape)}"
        return f"{kind} {v.dtype} tensor"
    return type(v).__name__


def _counter_tensor(v: TensorRef) -> None:
    """Raise _Bad unless ``v`` can hold a step count (one element of an integer or float dtype)."""
    if v.shape and v.numel != 1:
        raise _Bad(f"a {_describe(v)} where a one-element counter was expected (not read)")
    if v.storage.dtype not in _FLOAT_EXACT and v.storage.dtype not in _INT_DTYPES:
        raise _Bad(f"a {v.storage.dtype} tensor is not a step counter")


def _count(v: Any, read: dict[int, Any]) -> int:
    """One counter value as a non-negative int, or raise _Bad naming the problem. ``read``: the values
    of the counter tensors, by ``id``, read beforehand in one batch."""
    exact_limit: int | None = None
    if type(v) is TensorRef:
        got = read.get(id(v), _UNREAD)
        if got is _UNREAD:
            _counter_tensor(v)  # raises: not a counter (it was not read)
        exact_limit = _FLOAT_EXACT.get(v.storage.dtype)
        v = got
    elif isinstance(v, float):
        exact_limit = _FLOAT_EXACT["float64"]
    if not _plain_number(v):
        raise _Bad(f"a {type(v).__name__} ({str(v)[:40]}) is not a step count")
    if isinstance(v, float):
        if not math.isfinite(v):
            raise _Bad(f"step is {v}")
        if v != int(v):
            raise _Bad(f"step {v} is not a whole number")
        v = int(v)
    if v < 0:
        raise _Bad(f"step {v} is negative")
    if exact_limit is not None and v >= exact_limit:
        raise _Bad(
            f"step {v} reached the largest integer its float type holds exactly ({exact_limit:,}); "
            "a float counter stops advancing there, so the true count may be higher"
        )
    return v


def _agree(values: list[tuple[str, int]], what: str) -> tuple[int | None, str | None]:
    """One value when every (label, value) agrees; otherwise None and a note saying how they differ."""
    distinct: dict[int, list[str]] = {}
    for label, val in values:
        distinct.setdefault(val, []).append(label)
    if len(distinct) == 1:
        return next(iter(distinct)), None
    parts = ", ".join(
        f"{len(labels)} at {val}" for val, labels in sorted(distinct.items(), key=lambda kv: -len(kv[1]))
    )
    return None, f"{what} disagree ({parts}); refusing to pick one"


def _read_all(items: list[tuple[str, Any]], read_scalars: ReadScalars, what: str) -> tuple[int | None, str | None]:
    refs = []
    for _, v in items:
        if type(v) is TensorRef:
            try:
                _counter_tensor(v)
            except _Bad:
                continue  # reported in order below, without reading it
            refs.append(v)
    read: dict[int, Any] = {}
    if refs:
        try:
            read = {id(t): x for t, x in zip(refs, read_scalars(refs), strict=True)}
        except CkptfixError:
            raise
        except Exception as exc:  # noqa: BLE001 - odd input becomes a note, never a crash
            return None, f"{what}: could not read the {_describe(refs[0])} counters: {exc}"
    values: list[tuple[str, int]] = []
    for label, raw in items:
        try:
            values.append((label, _count(raw, read)))
        except _Bad as bad:
            return None, f"{what} {label}: {bad}"
    if not values:
        return None, f"no {what} found"
    return _agree(values, what)


def _kinds(items: list[tuple[str, Any]]) -> str:
    seen: dict[Any, str] = {}  # described once per kind: hundreds of parameters share a few
    for _, v in items:
        kind = (v.shape, v.storage.dtype) if type(v) is TensorRef else type(v)
        if kind not in seen:
            seen[kind] = _describe(v)
    kinds = sorted(set(seen.values()))
    return ", ".join(kinds) if kinds else "nothing"


def optimizer_step_count(state_dict: Any, read_scalars: ReadScalars) -> StepCount:
    """The number of steps the optimizer says it has taken, or None with the reason."""
    try:
        return _step_count(state_dict, read_scalars)
    except CkptfixError:
        raise
    except Exception as exc:  # noqa: BLE001 - last line of defence: odd input is never a crash
        return StepCount(None, "unknown", "optimizer state", f"could not interpret the state: {type(exc).__name__}: {exc}")


def _step_count(sd: Any, read_scalars: ReadScalars) -> StepCount:
    if not isinstance(sd, dict):
        return StepCount(None, "unknown", "optimizer state", f"not an optimizer state dict (a {type(sd).__name__})")
    state, groups = sd.get("state"), sd.get("param_groups")
    if not isinstance(state, dict) or not isinstance(groups, list):
        return StepCount(None, "unknown", "optimizer state", "not an optimizer state dict (no 'state' dict and 'param_groups' list)")
    groups = [g for g in groups if isinstance(g, dict)]
    if not groups:
        return StepCount(None, "unknown", "optimizer state", "param_groups is empty or holds no dicts")
    st = _State(state, groups, read_scalars)
    for counter in (_k_counter, _group_step_counter):  # counters kept in param_groups
        found = counter(st)
        if found is not None:
            return found
    return _param_counter(st)  # counters kept per parameter


class _State:
    """An optimizer state dict's parts, as its step counter is looked for in them."""

    def __init__(self, state: dict[Any, Any], groups: list[dict[str, Any]], read_scalars: ReadScalars) -> None:
        self.groups, self.read_scalars = groups, read_scalars
        self.extra_state = {k: v for k, v in state.items() if isinstance(k, str)}
        self.live = {k: v for k, v in state.items() if isinstance(v, dict) and not isinstance(k, str) and v}
        every_key: set[Any] = set()
        for v in self.live.values():
            every_key.update(v)
        self.pkeys: set[str] = {k for k in every_key if isinstance(k, str)}
        self.gkeys: set[str] = set()
        for g in groups:
            self.gkeys.update(k for k in g if isinstance(k, str))
        self.schedule_free = "train_mode" in self.gkeys or ("k" in self.gkeys and "weight_sum" in self.gkeys)

    def groups_field(self, name: str) -> list[tuple[str, Any]]:
        return [(f"param_groups[{i}]", g[name]) for i, g in enumerate(self.groups) if name in g]

    def params_field(self, name: str) -> list[tuple[str, Any]]:
        return [(f"state[{k}]", v[name]) for k, v in self.live.items() if name in v]

    def from_groups(self, name: str, family: str, sf: bool | None = None) -> StepCount:
        """The counter ``name`` of every param group (all must carry it, and agree)."""
        items = self.groups_field(name)
        value, note = _read_all(items, self.read_scalars, f"param_groups[*][{name!r}]")
        if value is not None and len(items) < len(self.groups):
            value, note = None, f"only {len(items)} of {len(self.groups)} param groups carry {name!r}"
        return StepCount(value, family, f"param_groups[*][{name!r}] ({_kinds(items)})", note,
                         self.schedule_free if sf is None else sf)


def _k_counter(st: _State) -> StepCount | None:
    """The optimizers that count in ``param_groups[*]["k"]`` (None: not one of them)."""
    gkeys, groups = st.gkeys, st.groups
    if "k" not in gkeys or "step" in gkeys:
        return None
    # prodigy-plus-schedule-free: group["k"] starts at 1 and adds 1 per step (1.x and 2.x sources).
    if "optimiser_version" in gkeys or {"d0", "d_coef", "use_schedulefree"} <= gkeys:
        sf = all(g.get("use_schedulefree", True) is True for g in groups)
        sc = st.from_groups("k", "prodigy-plus-schedule-free", sf)
        if sc.value is None:
            return sc
        if sc.value < 1:
            return StepCount(None, sc.family, sc.source, f"k is {sc.value}; this optimizer starts it at 1", sf)
        return StepCount(sc.value - 1, sc.family, sc.source + " minus 1 (k starts at 1)", None, sf)
    # schedulefree (facebookresearch): group["k"], per-param "z", group "train_mode"/"weight_sum".
    if st.schedule_free and "d0" not in gkeys:
        return st.from_groups("k", "schedule-free", True)
    # prodigyopt: group["k"] (+ d, d0, d_max) and per-parameter int "step".
    if {"d", "d0"} <= gkeys:
        sc = st.from_groups("k", "prodigy")
        items = st.params_field("step")
        if sc.value is None or not items:
            return sc
        per, note = _read_all(items, st.read_scalars, "state[*]['step']")
        if per is None or per != sc.value:
            why = note or f"state[*]['step'] is {per}, param_groups[*]['k'] is {sc.value}"
            return StepCount(None, "prodigy", sc.source + " and state[*]['step']", f"counts disagree: {why}", sc.schedule_free)
        return StepCount(sc.value, "prodigy", sc.source + ", matching state[*]['step']", None, sc.schedule_free)
    return None


def _group_step_counter(st: _State) -> StepCount | None:
    """The optimizers that count in ``param_groups[*]["step"]`` (None: not one of them)."""
    gkeys = st.gkeys
    if "step" not in gkeys:
        return None
    if any(isinstance(v, TensorRef) for _, v in st.groups_field("step")):
        # torch-optimi keeps a 0-d int32 tensor per group.
        return st.from_groups("step", "optimi")
    if "d0" in gkeys and "d_coef" in gkeys and "k" not in gkeys:
        # pytorch_optimizer's Prodigy: its counter starts at 1 and older releases add 2 per step,
        # so the raw value does not say how many steps were taken.
        raw = st.from_groups("step", "pytorch-optimizer-prodigy")
        return StepCount(
            None, raw.family, raw.source,
            f"raw counter {raw.value if raw.value is not None else '?'}: pytorch_optimizer's Prodigy starts it "
            "at 1 (4.x: steps + 1; older releases added 2 per step); the step count cannot be told from it",
            st.schedule_free,
        )
    k = st.extra_state.get("k")
    if isinstance(k, TensorRef) and {"grad_sum_sq", "s", "x0"} <= st.pkeys:
        # pytorch_optimizer's MADGRAD: counts in state["k"]; group["step"] stays 0.
        value, note = _read_all([("state['k']", k)], st.read_scalars, "counter")
        return StepCount(value, "pytorch-optimizer-madgrad", f"state['k'] ({_describe(k)})", note, st.schedule_free)
    return st.from_groups("step", "schedule-free" if st.schedule_free else "pytorch-optimizer")


def _param_counter(st: _State) -> StepCount:
    """The optimizers that count per parameter (``state[*]["step"]``), or keep no count."""
    live, schedule_free = st.live, st.schedule_free
    family = _per_param_family(st.pkeys, st.gkeys, live, st.groups)
    if not live:
        if family in _ZERO_WHEN_EMPTY:
            return StepCount(0, family, "state (empty)", "no optimizer step taken yet: the per-parameter state is empty", schedule_free)
        return StepCount(
            None, family, "state (empty)",
            "the per-parameter state is empty: no optimizer step taken yet, or an optimizer that keeps no state",
            schedule_free,
        )
    items = st.params_field("step")
    if family == "simpletuner-adamw-schedulefree":
        return StepCount(
            None, family, f"state[*]['step'] ({_kinds(items)})",
            "SimpleTuner's AdamWScheduleFreeKahan never advances state['step'] and keeps its count in an "
            "attribute that is not saved: no step count in this file", True,
        )
    if not items:
        return StepCount(None, family, "no step counter", _NO_COUNT.get(family, "this optimizer keeps no step count"), schedule_free)
    source = f"state[*]['step'] ({_kinds(items)})"
    if len(items) < len(live):
        return StepCount(None, family, source, f"only {len(items)} of {len(live)} parameter states carry 'step'", schedule_free)
    value, note = _read_all(items, st.read_scalars, "state[*]['step']")
    if value == 0 and family == "torch-adagrad":
        return StepCount(0, family, source, "no optimizer step taken yet (Adagrad creates its state at construction)", schedule_free)
    if value == 0:
        return StepCount(None, family, source, "step is 0 in a non-empty state: the counter was never advanced", schedule_free)
    return StepCount(value, family, source, note, schedule_free)


_ZERO_WHEN_EMPTY = {"torch-adam", "torch-adamw", "torch-adam-or-adamw", "torch-rmsprop", "torch-adafactor", "bnb-8bit", "bnb"}

_NO_COUNT = {
    "torch-sgd": "SGD keeps no step count (only momentum_buffer)",
    "lion": "Lion keeps no step count (only exp_avg)",
    "optimi": "this torch-optimi optimizer (Lion, SGD) keeps no step count",
}


def _bnb_8bit(live: dict) -> bool:
    for v in live.values():
        q = v.get("__bnb_optimizer_quant_state__", v)
        s1 = q.get("state1") if isinstance(q, dict) else None
        if isinstance(s1, TensorRef) and s1.dtype == "uint8":
            return True
    return False


def _per_param_family(pkeys: set[str], gkeys: set[str], live: dict, groups: list[dict]) -> str:
    if "__bnb_optimizer_quant_state__" in pkeys or ({"state1", "step"} <= pkeys and ("qmap1" in pkeys or "t_alpha" in gkeys)):
        return "bnb-8bit" if _bnb_8bit(live) else "bnb-32bit"
    if not live and {"t_alpha", "t_beta3"} <= gkeys:
        return "bnb"
    if {"shift", "accumulated_decay"} <= pkeys:
        return "simpletuner-adamw-bf16"
    if "step" in pkeys and {"warmup_steps", "kahan_sum"} <= gkeys and "triton" not in gkeys:
        return "simpletuner-adamw-schedulefree"
    if "exp_avg_res_row" in pkeys or ("RMS" in pkeys and "clip_threshold" in gkeys):
        return "came"
    if {"row_var", "col_var"} & pkeys or "beta2_decay" in gkeys:
        return "torch-adafactor"
    if {"triton", "gradient_release"} <= gkeys:
        return "optimi"
    if "momentum_buffer" in pkeys or (not live and {"momentum", "dampening", "nesterov"} <= gkeys):
        return "torch-sgd"
    if "square_avg" in pkeys or (not live and {"alpha", "centered"} <= gkeys):
        return "torch-rmsprop"
    if "sum" in pkeys and "lr_decay" in gkeys:
        return "torch-adagrad"
    if {"amsgrad", "betas"} <= gkeys:
        flags = {g.get("decoupled_weight_decay") for g in groups}
        if flags == {True}:
            return "torch-adamw"
        if flags == {False}:
            return "torch-adam"
        return "torch-adam-or-adamw"
    if pkeys == {"exp_avg"} and "betas" in gkeys and "eps" not in gkeys:
        return "lion"
    if "step" in pkeys:
        return "torch-other"
    return "unknown"
