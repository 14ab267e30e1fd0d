"""N, the number of training processes, from evidence (pure).

Sources, strongest first:

1. ``--num-processes``.
2. Per-rank files that give N exactly: DeepSpeed's ``dp_world_size``; a layout's own per-rank files
   (``Layout.rank_files_exact``: the Trainer's ``rng_state_{rank}.pth``);
   ``random_states_{r}.pkl`` / ``training_state-rank{r}.json`` for a rank r > 0 (only a run that saves on
   every rank writes them, so N = highest rank + 1); ``random_states_0.pkl`` alone when every release that can
   have *written* the checkpoint saves on every rank (then N = 1). Which ranks saved is the writing release's
   fact, not the resuming one's: the files date the writer (``TrainerModel.writers_of``: SimpleTuner's
   ``checkpoint_manifest.json``), and the resuming releases are presumed to have written it only when the files
   agree.
3. Otherwise the rank files are only a lower bound (SimpleTuner up to 4.9.2, kohya and the diffusers
   scripts save on rank 0 only), and the scheduler state is weighed: ``T_0`` against ``--lr-warmup-steps``
   (SimpleTuner builds ``T_0 = W × N``), then ``last_epoch ÷ step`` when the stored ``_last_lr`` is its
   formula's value at ``last_epoch`` (the state is self-consistent) and the quotient divides ``T_0``, then
   what the other checkpoints of the same output folder established, when they all agree
   (``RunFacts.run_processes``, set by ``analysis/run.py``).
4. Else N is unknown: the candidates (the divisors of ``T_0`` from the lower bound on) and why.
"""

from __future__ import annotations

from typing import Any

from ckptfix.analysis.report import Options, ProcessEstimate, RunFacts
from ckptfix.coerce import as_int
from ckptfix.model.checkpoint import Checkpoint
from ckptfix.model.layouts import get_layout
from ckptfix.model.trainers import TrainerRules, WriterRules
from ckptfix.schedulers.detect import ProfileMatch
from ckptfix.schedulers.profiles import SINE_FAMILY

__all__ = ["MAX_CANDIDATES", "estimate_processes", "position_quotient"]

#: Candidates listed when N is unknown (the divisors of T_0 can be many).
MAX_CANDIDATES = 8
_MAX_N = 1 << 16  # no run has more processes; bounds the divisor search


def _ranks(ck: Checkpoint) -> set[int]:
    ranks = set(ck.rng_ranks or range(ck.num_processes)) | {r for r, _ts in ck.rank_states}
    if ck.training_state is not None or ck.num_processes:
        ranks.add(0)
    return ranks


def _written_by(title: str, writers: list[WriterRules] | tuple[WriterRules, ...]) -> str:
    """``written by SimpleTuner < 4.0.6`` (what the checkpoint's files say of the release that saved it)."""
    ranges = ", ".join(w.versions.label for w in writers)
    return f"written by {title} {ranges}".rstrip() if ranges != "every version" else f"written by {title}"


def _divisors(t0: int, low: int) -> list[int]:
    out = []
    for d in range(max(1, low), min(t0, _MAX_N) + 1):
        if t0 % d == 0:
            out.append(d)
            if len(out) > MAX_CANDIDATES:
                break
    return out


def position_quotient(last_epoch: int | None, step: int | None, low: int) -> int | None:
    """N read from a position accelerate reached stepping the scheduler N times per optimizer step: ``last_epoch
    ÷ step`` when it is a whole number and at least ``low`` (the lower bound the files give); None otherwise."""
    if last_epoch is None or step is None or last_epoch <= 0 or step <= 0 or last_epoch % step:
        return None
    n = last_epoch // step
    return n if n >= low else None


def estimate_processes(ck: Checkpoint, opts: Options, rules: tuple[TrainerRules, ...], step: int | None,
                       state: dict[str, Any] | None, match: ProfileMatch | None,
                       facts: RunFacts = RunFacts(), writers: tuple[WriterRules, ...] | None = None) -> ProcessEstimate:
    """N for ``ck`` (see the module docstring). ``rules``: the resuming releases; ``writers``: the releases that can
    have written it (``TrainerModel.writers_of``; default: the resuming releases' save rules); ``state``/``match``:
    its first scheduler file, decoded and detected (None when there is none); ``step``: the checkpoint's step (None
    when unknown)."""
    if writers is None:
        writers = tuple(WriterRules(r.versions, r.saves_on) for r in rules)
    if opts.num_processes is not None:
        return ProcessEstimate(opts.num_processes, "--num-processes", exact=True)
    if ck.engine is not None and ck.engine.dp_world_size:
        return ProcessEstimate(ck.engine.dp_world_size, "DeepSpeed dp_world_size", exact=True)
    exact_files = get_layout(ck.layout).rank_files_exact
    if exact_files is not None and ck.num_processes:
        return ProcessEstimate(ck.num_processes, exact_files, exact=True)
    ranks = _ranks(ck)
    low = max(ranks) + 1 if ranks else 1
    if low > 1:
        files = "random_states_*.pkl" if max(ck.rng_ranks, default=0) + 1 == low else "training_state-rank*.json"
        return ProcessEstimate(low, f"{files} (rank {low - 1} saved: every rank saves, N = {low})", low, exact=True)
    title = rules[0].trainer if rules else ""
    if ranks and writers and all(w.saves_on == "all" for w in writers):
        return ProcessEstimate(1, f"random_states_0.pkl only, and {_written_by(title, writers)}, which saves on every "
                               "rank", 1, exact=True)
    main = [w for w in writers if w.saves_on == "main"]
    bound = (f"random_states_0.pkl is only a lower bound: it can have been {_written_by(title, main)}, which saves on "
             "rank 0 only") if ranks else "no random_states_*.pkl"
    sine = state is not None and match is not None and match.profile in SINE_FAMILY
    if not sine:
        return ProcessEstimate(low, "lower bound (N is not needed to check this scheduler)", low, why=bound)
    assert state is not None and match is not None
    t0 = as_int(state.get("T_0"))
    le = as_int(state.get("last_epoch"))
    if opts.lr_warmup_steps and t0 is not None and t0 >= 1:  # W = 0: no T_0
        n, rem = divmod(t0, opts.lr_warmup_steps)
        if rem == 0 and n >= low:
            return ProcessEstimate(n, f"T_0 {t0} = --lr-warmup-steps {opts.lr_warmup_steps} × N", low, why=bound)
    n = position_quotient(le, step, low) if match.lr_consistent else None
    if n is not None and (t0 is None or t0 % n == 0):
        return ProcessEstimate(n, f"last_epoch {le} ÷ step {step}", low,
                               why=f"the state is consistent with its formula; {bound}")
    if facts.run_processes is not None:
        n, which = facts.run_processes
        if n >= low and (t0 is None or t0 % n == 0):
            return ProcessEstimate(n, f"other checkpoints of this run ({which})", low, why=bound,
                                   from_run=facts.run_processes)
    if step == 0:
        return ProcessEstimate(low, "lower bound (at step 0 the position is 0 for every N)", low, why=bound)
    candidates = tuple(_divisors(t0, low)) if t0 is not None and t0 >= 1 else (low,)
    why = [bound]
    if le is not None and le <= 0:
        why.append(f"last_epoch {le}: the scheduler never stepped, so it says nothing about N")
    elif le is not None and step:
        why.append(f"last_epoch {le} is not a whole multiple of step {step} that divides T_0 {t0}"
                   if match.lr_consistent else f"last_epoch {le} ÷ step {step} is not evidence: the state's _last_lr "
                   "is not its formula's value there")
    if opts.lr_warmup_steps is not None and t0 is not None:
        why.append(f"T_0 {t0} is not --lr-warmup-steps {opts.lr_warmup_steps} × N for an N >= {low}")
    elif t0 is not None:
        why.append(f"T_0 = W × N = {t0}: pass --lr-warmup-steps W to settle it")
    return ProcessEstimate(None, "unknown", low, candidates, "; ".join(why))
