"""Command line: parse, call the pipeline, render. No logic of its own.

No ``from __future__ import annotations`` here: Typer reads the parameters' annotations on every
run, and string annotations cost it an ``eval`` each (~3 ms of a gate run; bench/).
"""

import copy
import gc
import os
import sys
from contextlib import contextmanager
from inspect import Parameter
from pathlib import Path
from typing import Annotated, Optional

import typer

from ckptfix import __version__
from ckptfix.analysis.options import Options, OptionSpec, with_option_parameters
from ckptfix.errors import PathMissing, StorageUnreadable, UsageError
from ckptfix.exitcodes import CODES, INTERNAL, NOTHING_TO_RESUME, UNREADABLE, USAGE
from ckptfix.links import REPOSITORY, doc_url

# --help points to the web (an installed user has no docs/ folder): ckptfix/links.py holds the addresses.
EXIT_CODES_HELP = (
    "\n\b\nExit codes (the CI gate contract):\n"
    + "".join(f"  {code}  {meaning}\n" for code, (_status, meaning) in CODES.items())
    + "The worst code over all checked checkpoints wins (3 > 1 > 0); over many\n"
    + "runs, 4 only when no run has anything to resume.\n"
    + f"A launcher script that runs the gate (tested):\n  {doc_url('exit-codes.md')}\n"
)

# Every line of a \b block (printed as written) fits an 80-column terminal with click's indent.
app = typer.Typer(
    name="ckptfix",
    help="Inspect and repair the learning-rate scheduler state in accelerate / SimpleTuner checkpoints.\n\n"
    "\b\nGate a resume: launch on 0 and 4, repair on 1, stop on 2, 3 and 5:\n"
    "  ckptfix inspect OUTPUT_DIR --latest --quiet\n\n"
    + EXIT_CODES_HELP
    + f"\n\b\nDocumentation: {REPOSITORY}#readme\n"
    "What a finding means: ckptfix explain CODE; the --json schema: ckptfix schema\n",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


class _Command(typer.core.TyperCommand):
    """Usage lines name a required argument as PATH, not typer's {PATH}."""

    def collect_usage_pieces(self, ctx):
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in super().collect_usage_pieces(ctx)]


def _at_least(low: float):
    """A callback refusing numbers below ``low`` (and NaN, inf) with a plain message; typer's min= would
    print the type as '<int range>' and '[x>=1]' in --help."""

    def check(value: Optional[float]) -> Optional[float]:
        if value is not None and (value != value or value in (float("inf"), float("-inf")) or value < low):
            raise typer.BadParameter(f"must be a number of {low:g} or more, not {value:g}")
        return value

    return check


# A string, not a Path: a URL (s3://bucket/run) must reach ckptfix as typed (Path would fold "//").
PathArg = Annotated[str, typer.Argument(metavar="PATH", show_default=False,
                                        help="A checkpoint-N folder, or a run's output folder holding several; "
                                        "local, or a URL: s3://, gs://, az://, hf://, file://, memory:// (with the backend's extra: "
                                        "pip install 'ckptfix[s3]').")]
PathsArg = Annotated[list[str], typer.Argument(
    metavar="PATH...", show_default=False,
    help="A checkpoint-N folder, a run's output folder holding several, or a root of runs (every folder below it "
    "holding checkpoints, to --depth); several may be given. Local, or a URL: s3://, gs://, az://, hf://, file://, "
    "memory:// (with the backend's extra: pip install 'ckptfix[s3]').")]
Depth = Annotated[Optional[int], typer.Option(
    "--depth", metavar="D", callback=_at_least(0),
    help="Runs lie at most D levels below a root PATH (default 3: root/project/run/ is level 2).")]
Every = Annotated[bool, typer.Option("--all", help="Many runs: every checkpoint of each run, not only the one its "
                                     "trainer resumes.")]
Jsonl = Annotated[bool, typer.Option("--jsonl", help="Print JSON Lines: one line per run as it finishes, then a summary "
                                     "line (docs: fleet.md).")]
ShardOpt = Annotated[Optional[str], typer.Option(
    "--shard", metavar="I/N", help="Check only shard I of N (I from 0) of the runs, by a stable hash of each run's path; "
    "ckptfix merge combines the shards' --jsonl files.")]
StorageOption = Annotated[Optional[list[str]], typer.Option(
    "--storage-option", metavar="KEY=VALUE",
    help="For a URL PATH: an option of its fsspec backend (repeatable), e.g. endpoint_url=http://minio:9000, anon=true.")]
StorageTimeout = Annotated[Optional[float], typer.Option(
    "--timeout", metavar="SECONDS", callback=_at_least(0.1),
    help="For a URL PATH: wait for the storage SECONDS in all, then exit 3 naming what did not answer (default "
    "300; each request also has its own timeouts).")]
Latest = Annotated[bool, typer.Option("--latest", help="Only the checkpoint a resume would pick (highest N, not -tmp).")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout (its JSON Schema: ckptfix schema).")]


_PARAMETERS: dict[str, Parameter] = {}


def _parameter(spec: OptionSpec) -> Parameter:
    """One option of the record (``analysis/options.py``) as a Typer parameter (made once: both commands share
    it, as Typer copies what it reads)."""
    if spec.name not in _PARAMETERS:
        _PARAMETERS[spec.name] = _make_parameter(spec)
    return _PARAMETERS[spec.name]


def _make_parameter(spec: OptionSpec) -> Parameter:
    """Typer's default style (``typer.Option`` as the default): ``Annotated[...]`` with Typer's unhashable
    ``OptionInfo`` misses typing's cache, 100 k instructions each on every run (bench/instructions.py)."""
    f = spec.flag
    kind = Optional[spec.type] if spec.default is None else spec.type
    extra = {"metavar": f.metavar} if f.metavar else {}
    if f.at_least is not None:
        extra["callback"] = _at_least(f.at_least)
    declared = f"{f.flag}/{f.off}" if f.off else f.flag
    return Parameter(spec.name, Parameter.KEYWORD_ONLY, annotation=kind,
                     default=typer.Option(spec.default, declared, *([f.short] if f.short else []), help=f.help, **extra))


def with_options(command: str):
    """A command's ``**options`` become one Typer option per option of ``command`` in the record (after its own)."""
    return with_option_parameters(command, _parameter)


def version_cb(value: bool) -> None:
    if value:
        print(f"ckptfix {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", "-V", callback=version_cb, is_eager=True, help="Show the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="On an internal error, print the traceback (also CKPTFIX_DEBUG=1).")] = False,
) -> None:
    pass


def Console(**kw):  # noqa: N802 - rich.console costs ~15 ms to import; the --json gate may never need it
    """The Rich console on stdout (``stderr=True``: stderr): no markup parsed (``exp[lora]`` prints as it is),
    no line of text wrapped when the output is not a terminal, ASCII where the encoding cannot hold a
    character (render/output.py)."""
    from ckptfix.render.output import make_console  # noqa: PLC0415 - rich.console costs ~15 ms; the --json gate may never need it

    return make_console(sys.stderr if kw.pop("stderr", False) else sys.stdout, **kw)


def _err():
    return Console(stderr=True, soft_wrap=True)


def _error_line(message: str, label: str = "error:") -> None:
    from rich.text import Text  # noqa: PLC0415 - only when an error is printed

    _err().print(Text.assemble((label, "red" if label == "error:" else "yellow"), " ", message), highlight=False)


def _fail(command: str, code: int, message: str, json_out: bool) -> None:
    """Say what went wrong on stderr (and, with ``--json``, in the document on stdout); exit ``code``."""
    _error_line(message, "note:" if code == NOTHING_TO_RESUME else "error:")
    if json_out:
        from ckptfix.render.json_doc import error_document  # noqa: PLC0415 - only for an error as a JSON document

        sys.stdout.write(error_document(command, code, message) + "\n")
    raise typer.Exit(code)


def _storage_code(command: str, store, path: str, code: int) -> int:
    """Exit 3 when the storage did not answer within ``--timeout`` (what it was waiting for said on stderr):
    the checkpoints not read are unreadable, whatever the others gave."""
    why = store.timed_out()
    if why is None:
        return code
    _error_line(f"{path}: {why}; what was not read is reported unreadable (ckptfix {command} --timeout SECONDS "
                "waits longer)")
    return UNREADABLE


def _usage_failure(command: str, exc: UsageError, latest: bool, json_out: bool) -> None:
    if latest and isinstance(exc, PathMissing):  # an output folder before its first checkpoint
        _fail(command, NOTHING_TO_RESUME, f"nothing to resume: {exc}", json_out)
    _fail(command, USAGE, str(exc), json_out)


def _debug_requested(ctx: typer.Context | None = None) -> bool:
    if os.environ.get("CKPTFIX_DEBUG", "") not in ("", "0"):
        return True
    return bool(ctx is not None and ctx.find_root().params.get("debug"))


def internal_error(command: str, exc: BaseException, json_out: bool = False, debug: bool = False) -> None:
    """A ckptfix bug: one line naming the command and asking for a report, exit 5 (never 1, which means
    "findings"); the traceback only with ``--debug``."""
    if debug:
        import traceback  # noqa: PLC0415 - only with --debug

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    what = f"{type(exc).__name__}: {exc}"
    what = what if len(what) <= 160 else what[:159] + "…"
    message = (f"ckptfix {command}: internal error ({what}). This is a bug in ckptfix, not in your checkpoint; "
               f"please report it with the output of `ckptfix --debug {command} ...`")
    sys.stderr.write(message + "\n")
    if json_out:
        from ckptfix.render.json_doc import error_document  # noqa: PLC0415 - only for an error as a JSON document

        sys.stdout.write(error_document(command, INTERNAL, message) + "\n")
    raise typer.Exit(INTERNAL)


@contextmanager
def _guard(ctx: typer.Context, command: str, json_out: bool = False):
    """Run a command body; an unexpected exception becomes ``internal_error`` (exit 5)."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise
    except KeyboardInterrupt:  # not 1 ("findings"): the shell's code for SIGINT; a repair has restored first
        sys.stderr.write(f"ckptfix {command}: interrupted\n")
        raise typer.Exit(130) from None
    except Exception as exc:  # noqa: BLE001 - the gate's promise: a bug is exit 5, never a traceback with exit 1
        internal_error(command, exc, json_out, _debug_requested(ctx))


@contextmanager
def _progress():
    """A progress line on stderr for long scans, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress  # noqa: PLC0415 - only on a terminal

    with Progress(transient=True, console=_err()) as bar:
        task = bar.add_task("reading checkpoints", total=None)
        from rich.markup import escape  # noqa: PLC0415 - the progress column parses markup: a folder named exp[lora] must show as is

        yield lambda path: bar.update(task, advance=1, description=f"read {escape(path.name)}")


@app.command(cls=_Command, epilog=EXIT_CODES_HELP, short_help="Check the scheduler state of checkpoints (the resume gate).")
@with_options("inspect")
def inspect(
    ctx: typer.Context,
    paths: PathsArg,
    latest: Latest = False,
    every: Every = False,
    json_out: Json = False,
    jsonl: Jsonl = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show every checkpoint's details, not only those with findings.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary line and the command to run next (for launchers).")] = False,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", metavar="J", callback=_at_least(1), help="Worker processes for output folders with many checkpoints, or for many runs (default: up to 2).")] = None,
    plot: Annotated[bool, typer.Option("--plot", help="Draw the fixed-formula LR curve in the terminal, with each checkpoint.")] = False,
    plot_file: Annotated[Optional[Path], typer.Option("--plot-file", metavar="FILE", help="Write the LR curve to a PNG file (needs matplotlib: pip install 'ckptfix[png]').")] = None,
    storage_option: StorageOption = None,
    timeout: StorageTimeout = None,
    depth: Depth = None,
    shard: ShardOpt = None,
    **options,
) -> None:
    """Report the scheduler and optimizer state of checkpoints, each finding with its fix, and the
    command to run next. Writes nothing. Given a root of runs (or several PATHs), the checkpoint each
    run's trainer resumes, one line per run that needs something, and a summary; the worst exit code.

    \b
    Examples:
      ckptfix inspect out/                    every checkpoint
      ckptfix inspect out/ --latest --quiet   the resume gate, in two lines
      ckptfix inspect out/checkpoint-300      one checkpoint, in detail
      ckptfix inspect out/ --lr-end 1e-6      does the state use your lr_end?
      ckptfix inspect out/ --plot             the LR curve, checkpoints marked
      ckptfix inspect runs/ --jsonl | jq .    every run below runs/, a line each
      ckptfix inspect s3://b/runs --shard 0/4 --jsonl > 0.jsonl
                                              one of 4 shards (ckptfix merge)
    """
    with _guard(ctx, "inspect", json_out or jsonl):
        opts = Options(**options)
        roots = _fleet_roots("inspect", paths, storage_option, timeout, latest, every, json_out, jsonl, depth, shard,
                             trainer=opts.trainer)
        if not isinstance(roots, list):
            _inspect(paths[0], roots, latest, json_out, verbose, quiet, jobs, plot, plot_file, opts)
        if plot or plot_file:
            _fail("inspect", USAGE, "--plot and --plot-file draw one run: give one run's folder", json_out or jsonl)
        _fleet("inspect", roots, depth, shard, every, json_out, jsonl, verbose, quiet, jobs, opts)


def _fleet_roots(command: str, paths: list[str], storage_option: Optional[list[str]], timeout: Optional[float],
                 latest: bool, every: bool, json_out: bool, jsonl: bool, depth: Optional[int], shard: Optional[str],
                 remote_ok: bool = True, trainer: Optional[str] = None):
    """The roots to check as many runs, or, for one PATH as always, its opened ``(store, location, disc)``: one
    run's folder, a checkpoint, or nothing to read, without --jsonl, --shard or --depth; ``disc`` is the run's
    discovery (with ``--trainer``'s latest rule), which the single-run pipeline then does not make again (None:
    no run there). Usage errors exit here, before any file is read (as one PATH always did)."""
    from ckptfix.fleet.runs import DEFAULT_DEPTH, is_root_of_runs, run_discovery  # noqa: PLC0415 - each command imports only what it runs
    from ckptfix.formats.location import open_location  # noqa: PLC0415 - each command imports only what it runs
    from ckptfix.model.trainers import trainer_of  # noqa: PLC0415 - each command imports only what it runs

    out = json_out or jsonl
    try:
        if latest and every:
            raise UsageError("--latest and --all are opposites: give one of them")
        if json_out and jsonl:
            raise UsageError("--json prints one document and --jsonl a line per run: give one of them")
        if shard is not None:
            from ckptfix.fleet.shard import parse_shard  # noqa: PLC0415 - only for --shard

            parse_shard(shard)
        asked = len(paths) > 1 or jsonl or shard is not None or depth is not None
        if not asked:
            store, location = open_location(paths[0], storage_option, timeout)
            disc = run_discovery(store, location, trainer_of(trainer))
            if disc is not None or not is_root_of_runs(store, location, DEFAULT_DEPTH):
                return store, location, disc
        from ckptfix.fleet.scan import Root  # noqa: PLC0415 - only for many runs

        if not asked:
            return [Root(paths[0], store, location)]
        roots = []
        for p in paths:
            store, location = open_location(p, storage_option, timeout)
            if store.remote and not remote_ok:
                raise UsageError(f"{p}: restore works on a local checkpoint; on object storage, copy the backup "
                                 "in .ckptfix/backup-*/ back over the file (docs/remote.md)")
            if store.kind(location) != "dir":
                raise UsageError(f"{p}: no such folder" if store.kind(location) is None else f"{p}: not a folder")
            roots.append(Root(p, store, location))
        return roots
    except UsageError as exc:
        _usage_failure(command, exc, latest, out)
    except StorageUnreadable as exc:
        _fail(command, UNREADABLE, str(exc), out)
    return None


def _fleet(command: str, roots: list, depth: Optional[int], shard: Optional[str], every: bool, json_out: bool,
           jsonl: bool, verbose: bool, quiet: bool, jobs: Optional[int], opts, work=None, parallel: bool = True) -> None:
    """Many runs: find them, check each (``work_for``), print each record as it comes, then the summary."""
    from functools import partial  # noqa: PLC0415 - only for many runs

    from ckptfix.analysis.run import default_jobs, prepare_options  # noqa: PLC0415 - only for many runs
    from ckptfix.fleet.runs import DEFAULT_DEPTH  # noqa: PLC0415 - only for many runs
    from ckptfix.fleet.scan import check, plan  # noqa: PLC0415 - only for many runs
    from ckptfix.fleet.shard import parse_shard  # noqa: PLC0415 - only for many runs
    from ckptfix.fleet.single_run import inspect_run  # noqa: PLC0415 - only for many runs
    from ckptfix.fleet.stream import DocumentWriter, line  # noqa: PLC0415 - only for many runs
    from ckptfix.render.fleet import fleet_progress, render_run, render_summary  # noqa: PLC0415 - only for many runs

    try:
        if opts is not None:
            opts = prepare_options(opts)
        p = plan(roots, DEFAULT_DEPTH if depth is None else depth, parse_shard(shard) if shard is not None else None)
    except UsageError as exc:
        _fail(command, USAGE, str(exc), json_out or jsonl)
    if work is None:
        work = partial(inspect_run, opts=opts, latest_only=not every)
    out = Console()
    if jsonl:
        on_record = partial(line, sys.stdout)
    elif json_out:
        doc = DocumentWriter(sys.stdout, command, [r.text for r in roots], p.shard)
        on_record = doc.add
    else:
        on_record = None if quiet else partial(render_run, out, verbose=verbose)
    with fleet_progress(_err(), not (quiet or json_out or jsonl)) as tick:
        summary = check(p, lambda store: partial(work, store=store), command, every, jobs or default_jobs(),
                        on_record, tick, parallel)
    for r in roots:
        _storage_code(command, r.store, r.text, 0)
    if jsonl:
        line(sys.stdout, summary)
    elif json_out:
        doc.close(summary)
    else:
        render_summary(out, summary)
    raise typer.Exit(summary["exit_code"])


def _inspect(path: str, opened: tuple, latest: bool, json_out: bool, verbose: bool, quiet: bool,
             jobs: Optional[int], plot: bool, plot_file: Optional[Path], opts) -> None:
    gc.disable()  # a short-lived process decoding ~100 small containers per parameter: no cycles to collect
    if plot_file is not None:  # a missing extra is a usage error at once, not after reading every checkpoint
        from ckptfix.render.plot import require_matplotlib  # noqa: PLC0415 - only with --plot-file

        try:
            require_matplotlib()
        except UsageError as exc:
            _fail("inspect", USAGE, str(exc), json_out)
    from ckptfix.analysis.run import default_jobs, inspect_path, worst_exit  # noqa: PLC0415 - each command imports only what it runs

    store, location, found = opened
    try:
        with _progress() as tick:
            disc, reports = inspect_path(location, opts, latest_only=latest, progress=tick, jobs=jobs or default_jobs(),
                                         store=store, disc=found)
    except UsageError as exc:
        _usage_failure("inspect", exc, latest, json_out)
    except StorageUnreadable as exc:
        _fail("inspect", UNREADABLE, str(exc), json_out)
    code = _storage_code("inspect", store, path, worst_exit(reports))
    if json_out:
        from ckptfix.render.json_doc import document  # noqa: PLC0415 - only the renderer asked for

        sys.stdout.write(document(disc, reports, code, "inspect", target=path, latest=latest, opts=opts) + "\n")
    else:
        from ckptfix.render.console import render_inspect  # noqa: PLC0415 - only the renderer asked for

        render_inspect(Console(), disc, reports, verbose, quiet=quiet, target=path, latest=latest, opts=opts,
                       exit_code=code)
    if plot or plot_file:
        from ckptfix.render.plot import render_plot  # noqa: PLC0415 - only with --plot / --plot-file

        try:
            render_plot(reports, terminal=plot and not json_out, png=plot_file, console=_err() if json_out else Console())
        except UsageError as exc:
            _error_line(str(exc))
            raise typer.Exit(USAGE)
    raise typer.Exit(code)


@app.command(cls=_Command, epilog=EXIT_CODES_HELP, short_help="Combine the --jsonl files of --shard runs into one result.")
def merge(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", show_default=False,
                                                help="The --jsonl output of every shard (inspect --shard I/N --jsonl).")],
    json_out: Json = False,
    jsonl: Jsonl = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show every run, not only those that need something.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary line.")] = False,
) -> None:
    """Combine the JSON Lines of N shards (ckptfix inspect ROOT --shard I/N --jsonl) into the summary and
    exit code one unsharded run gives. Refuses (exit 2, saying which) files that are not every shard of
    one scan exactly once: a shard missing or given twice, an unfinished file, runs seen twice.

    \b
    Examples:
      ckptfix merge shard-*.jsonl             the summary and the worst exit code
      ckptfix merge shard-*.jsonl --jsonl     the runs as one unsharded --jsonl
    """
    with _guard(ctx, "merge", json_out or jsonl):
        _merge(files, json_out, jsonl, verbose, quiet)


def _merge(files: list[Path], json_out: bool, jsonl: bool, verbose: bool, quiet: bool) -> None:
    from ckptfix.fleet.merge import merged_runs, merged_summary, read_shards  # noqa: PLC0415 - each command imports only what it runs
    from ckptfix.fleet.stream import DocumentWriter, Tally, line  # noqa: PLC0415 - each command imports only what it runs
    from ckptfix.render.fleet import render_run, render_summary  # noqa: PLC0415 - each command imports only what it runs

    try:
        if json_out and jsonl:
            raise UsageError("--json prints one document and --jsonl a line per run: give one of them")
        shards = read_shards(files)
    except UsageError as exc:
        _fail("merge", USAGE, str(exc), json_out or jsonl)
    tally, out = Tally(), Console()
    first = shards[0].summary
    doc = DocumentWriter(sys.stdout, first["tool"]["command"], first["roots"], None) if json_out else None
    for record in merged_runs(shards):
        tally.add(record)
        if jsonl:
            line(sys.stdout, record)
        elif doc is not None:
            doc.add(record)
        elif not quiet:
            render_run(out, record, verbose=verbose)
    summary = merged_summary(shards, tally)
    if jsonl:
        line(sys.stdout, summary)
    elif doc is not None:
        doc.close(summary)
    else:
        render_summary(out, summary)
    raise typer.Exit(summary["exit_code"])


@app.command(cls=_Command, short_help="Explain a finding (CKF030, or its name); alone, list them all.")
def explain(ctx: typer.Context, code: Annotated[Optional[str], typer.Argument(metavar="[CODE]", show_default=False, help="A finding code (CKF020) or name (t-cur-wrong); without it, every finding is listed.")] = None,
            json_out: Json = False) -> None:
    """Explain a finding: what it means, why it matters, how to fix it. Without CODE, list every finding.

    \b
    Examples:
      ckptfix explain              every finding code, one line each
      ckptfix explain CKF030       what CKF030 means and what to do
      ckptfix explain --json       every code, with its explanation and fix
    """
    with _guard(ctx, "explain", json_out):
        _explain(code, json_out)


def _explain(code: Optional[str], json_out: bool) -> None:
    from ckptfix.analysis.findings import RULES, lookup  # noqa: PLC0415 - each command imports only what it runs

    every = code is None or code.lower() == "all"
    rule = None if every else lookup(code)
    if not every and rule is None:
        _fail("explain", USAGE, f"unknown finding {code!r}; ckptfix explain lists them", json_out)
    if json_out:
        from ckptfix.render.json_doc import explain_document  # noqa: PLC0415 - only the renderer asked for

        sys.stdout.write(explain_document(RULES.values() if every else [rule]) + "\n")
        raise typer.Exit(0)
    from rich.text import Text  # noqa: PLC0415 - each command imports only what it runs

    out = Console()
    if every:
        from rich.table import Table  # noqa: PLC0415 - only for the list

        t = Table(box=None, show_edge=False, pad_edge=False)
        t.add_column("code", no_wrap=True)
        t.add_column("name", no_wrap=True)
        t.add_column("severity", no_wrap=True)
        t.add_column("what it means", overflow="fold")
        for r in RULES.values():
            t.add_row(r.code, r.name, r.severity, r.summary)
        out.print(t)
        out.print(Text("ckptfix explain CODE says what a finding means and what to do.", style="dim"))
        raise typer.Exit(0)
    out.print(Text.assemble((f"{rule.code} {rule.name}", "bold"), f" ({rule.severity}): {rule.summary}\n"))
    out.print(Text(rule.explanation + "\n"))
    out.print(Text.assemble(("fix: ", "bold"), rule.fix))


@app.command(cls=_Command, short_help="Print the JSON Schema of the --json documents.")
def schema(ctx: typer.Context) -> None:
    """Print the JSON Schema (draft 2020-12) that every --json document of inspect, repair and explain
    follows, as shipped inside the package.

    \b
    Example:
      ckptfix schema > ckptfix.schema.json
    """
    with _guard(ctx, "schema"):
        from ckptfix.api.schema import schema_text  # noqa: PLC0415 - each command imports only what it runs

        sys.stdout.write(schema_text())
        raise typer.Exit(0)


@app.command(cls=_Command, epilog=EXIT_CODES_HELP, short_help="Fix inconsistent scheduler states; a backup is kept.")
@with_options("repair")
def repair(
    ctx: typer.Context,
    paths: PathsArg,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; write nothing.")] = False,
    latest: Latest = False,
    every: Every = False,
    json_out: Json = False,
    jsonl: Jsonl = False,
    storage_option: StorageOption = None,
    timeout: StorageTimeout = None,
    depth: Depth = None,
    shard: ShardOpt = None,
    **options,
) -> None:
    """Rewrite inconsistent scheduler states to the target formula at the checkpoint's step, and
    create missing ones. For SimpleTuner before 4.10 it also sets training_state.json's epoch_step,
    which that resume takes last_epoch from; it refuses (exit 1, nothing written) when N is unknown or
    the resume cannot be made right. Prints the plan, then applies it: a backup in the checkpoint's
    .ckptfix/ folder, an atomic replace, a verification. The exit code is computed after the repair:
    0 repaired or nothing to do, 1 something remains. ckptfix restore undoes a repair.

    \b
    Examples:
      ckptfix repair out/ --latest --dry-run       the plan, nothing written
      ckptfix repair out/checkpoint-300            fix a v1, v2 or stale state
      ckptfix repair out/ --latest --lr-end 1e-6   make lr_end take effect
      ckptfix repair out/ --latest --lr-warmup-steps 100
                                                   create a missing scheduler.bin
      ckptfix repair out/ --latest --optimizer-lr  also set the optimizer's lr
    """
    with _guard(ctx, "repair", json_out or jsonl):
        opts = Options(**options)
        roots = _fleet_roots("repair", paths, storage_option, timeout, latest, every, json_out, jsonl, depth, shard,
                             trainer=opts.trainer)
        if not isinstance(roots, list):
            _repair(paths[0], roots, dry_run, latest, json_out, opts)
        from functools import partial  # noqa: PLC0415 - only for many runs

        from ckptfix.fleet.single_run import repair_run  # noqa: PLC0415 - only for many runs

        work = partial(repair_run, opts=opts, latest_only=not every, dry_run=dry_run)
        _fleet("repair", roots, depth, shard, every, json_out, jsonl, True, False, 1, opts, work, parallel=False)


def _repair(path: str, opened: tuple, dry_run: bool, latest: bool, json_out: bool, opts: Options) -> None:
    from ckptfix.repair.run import repair_path  # noqa: PLC0415 - each command imports only what it runs

    store, location, found = opened
    try:
        outcome = repair_path(location, opts, latest_only=latest, dry_run=dry_run, store=store, disc=found)
    except UsageError as exc:
        _usage_failure("repair", exc, latest, json_out)
    except StorageUnreadable as exc:
        _fail("repair", UNREADABLE, str(exc), json_out)
    if store.timed_out() is not None:
        from ckptfix.records import replace  # noqa: PLC0415 - only when the storage did not answer in time

        outcome = replace(outcome, exit_code=_storage_code("repair", store, path, outcome.exit_code))
    if json_out:
        from ckptfix.render.plan import repair_document  # noqa: PLC0415 - only the renderer asked for

        sys.stdout.write(repair_document(outcome) + "\n")
    else:
        from ckptfix.render.plan import render_repair  # noqa: PLC0415 - only the renderer asked for

        render_repair(Console(), outcome, target=path, latest=latest, opts=opts)
    raise typer.Exit(outcome.exit_code)


@app.command(cls=_Command, short_help="Undo the last repair of a checkpoint, checked by SHA-256.")
def restore(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(metavar="PATH...", show_default=False,
                                               help="A checkpoint-N folder, or a run's output folder holding several "
                                               "(local); with --list, also several, or a root of runs.")],
    latest: Latest = False,
    list_backups: Annotated[bool, typer.Option("--list", help="List the backups of each checkpoint; restore nothing.")] = False,
    backup: Annotated[Optional[str], typer.Option("--backup", metavar="NAME", help="Undo the repair of this backup (a name from --list) instead of the last one.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be restored (or pruned); write nothing.")] = False,
    prune: Annotated[bool, typer.Option("--prune", help="Remove old backups of ckptfix's own (see --keep); restore nothing.")] = False,
    keep: Annotated[Optional[int], typer.Option("--keep", metavar="K", callback=_at_least(0), help="With --prune: keep the K newest backups of each checkpoint (default 1).")] = None,
    json_out: Json = False,
    jsonl: Jsonl = False,
    depth: Depth = None,
) -> None:
    """Undo the last repair of a checkpoint from its .ckptfix/ backup, verified byte for byte
    (SHA-256). Each file the repair changed must be the repaired one (it is restored) or already the
    original (left as it is); if any file changed since the repair, nothing is touched (exit 1). A
    backup that is not exactly what repair writes (a symlink, a file repair never writes, a bad
    manifest) is refused whole (exit 3). Nothing to restore is exit 0.

    \b
    Examples:
      ckptfix restore out/checkpoint-300          undo its last repair
      ckptfix restore out/ --latest               the same, latest checkpoint
      ckptfix restore out/checkpoint-300 --list   the backups, newest first
      ckptfix restore out/ --prune --keep 1       remove all but the newest backup
    """
    with _guard(ctx, "restore", json_out or jsonl):
        if list_backups and backup is None and not prune:
            roots = _fleet_roots("restore", paths, None, None, latest, False, json_out, jsonl, depth, None, remote_ok=False)
            if isinstance(roots, list):
                from functools import partial  # noqa: PLC0415 - only for many runs

                from ckptfix.fleet.single_run import list_run  # noqa: PLC0415 - only for many runs

                _fleet("restore", roots, depth, None, not latest, json_out, jsonl, True, False, 1, None,
                       partial(list_run, latest_only=latest), parallel=False)
        if len(paths) > 1 or jsonl or depth is not None:
            _fail("restore", USAGE, "several PATHs, --jsonl and --depth go with --list (restore and --prune work on "
                  "one PATH)", json_out or jsonl)
        _restore(paths[0], latest, list_backups, backup, dry_run, prune, keep, json_out)


def _restore(path: str, latest: bool, list_backups: bool, backup: Optional[str], dry_run: bool, prune: bool,
             keep: Optional[int], json_out: bool) -> None:
    from ckptfix.formats.location import open_location  # noqa: PLC0415 - each command imports only what it runs
    from ckptfix.render import restore as render  # noqa: PLC0415 - each command imports only what it runs
    from ckptfix.repair import restore as undo  # noqa: PLC0415 - each command imports only what it runs

    try:
        if list_backups + prune > 1 or (backup is not None and (list_backups or prune)):
            raise UsageError("--list, --prune and --backup are separate uses of restore: give one of them")
        if keep is not None and not prune:
            raise UsageError("--keep goes with --prune (how many backups each checkpoint keeps)")
        if open_location(path, None)[0].remote:
            raise UsageError(f"{path}: restore works on a local checkpoint; on object storage, copy the backup "
                             "in .ckptfix/backup-*/ back over the file (docs/remote.md)")
        if list_backups:
            outcome = undo.list_path(Path(path), latest)
        elif prune:
            outcome = undo.prune_path(Path(path), 1 if keep is None else keep, latest, dry_run)
        else:
            outcome = undo.restore_path(Path(path), latest_only=latest, backup_name=backup, dry_run=dry_run)
    except UsageError as exc:
        _fail("restore", USAGE, str(exc), json_out)
    if json_out:
        document = (render.list_document if list_backups else render.prune_document if prune else render.restore_document)
        sys.stdout.write(document(outcome) + "\n")
    elif list_backups:
        render.render_backups(Console(), outcome, target=path)
    elif prune:
        render.render_prune(Console(), outcome, target=path)
    else:
        render.render_restore(Console(), outcome, target=path, latest=latest)
    raise typer.Exit(outcome.exit_code)


def app_for(argv: list[str]) -> typer.Typer:
    """The app with only the command ``argv`` names. Typer builds the click parameters of every command of an
    app before it parses anything; for the gate that was 16 M instructions of ``inspect --json`` spent on the
    five commands it does not run (bench/instructions.py: 8 GB checkpoint 457 -> 441 M). The whole app for
    anything else: no command (the group's help), a name that is no command (typo suggestions), completion."""
    name = next((a for a in argv if not a.startswith("-")), None)
    if name is None or any(k.endswith("_COMPLETE") for k in os.environ):
        return app
    chosen = [c for c in app.registered_commands
              if (c.name or typer.main.get_command_name(c.callback.__name__ if c.callback else "")) == name]
    if len(chosen) != 1:
        return app
    one = copy.copy(app)  # the same settings and callback (the group stays a group: it has a callback)
    one.registered_commands = chosen
    return one


def main() -> None:
    try:
        app_for(sys.argv[1:])()
    except Exception as exc:  # noqa: BLE001 - outside any command (argument parsing): still exit 5, one line
        command = next((a for a in sys.argv[1:] if not a.startswith("-")), "")
        try:
            internal_error(command, exc, debug="--debug" in sys.argv or _debug_requested())
        except typer.Exit as done:
            sys.exit(done.exit_code)


if __name__ == "__main__":
    main()
