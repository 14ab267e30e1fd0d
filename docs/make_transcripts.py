"""Regenerate every transcript and generated table in README.md and docs/*.md from the real tool.

    python docs/make_transcripts.py          # rewrite what is stale
    python docs/make_transcripts.py --check  # exit 1 and name what is stale (tests/cli/test_docs.py runs this)

A transcript is the fenced block right after a marker line::

    <!-- transcript: NAME -->
    ```text
    $ ckptfix inspect output --latest
    ...
    ```

``NAME`` is a key of ``TRANSCRIPTS``: fixture folders copied into a fresh temporary folder (the commands run
there, so paths are short and relative), then the commands, each run by ckptfix's own CLI at
``COLUMNS`` columns (``$ echo $?`` after those marked). Shell steps (``rm``, ``cp``) run as they are. The
only edits: trailing spaces are dropped and the UTC time in a backup folder's name is replaced by a fixed
one of the same length, so a transcript changes only when the tool's output does.

A generated table sits between ``<!-- generated: NAME -->`` and ``<!-- /generated -->``; ``TABLES`` makes it
(the findings catalogue, from ``ckptfix/analysis/findings.py``).

It also writes what holds the repository's address as text, from ``ckptfix/links.py`` (the one place it is
set): the long description (``docs/long-description.md``: the README with absolute links, as the package
index shows it, without the parts between ``<!-- clone-only -->`` and ``<!-- /clone-only -->``),
``pyproject.toml``'s ``[project.urls]``; and the JSON Schema, generated from the result model
(``ckptfix/api/schema.py``: ``ckptfix/api/results.py``'s records, its ``$id`` from ``ckptfix/links.py``).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ckptfix.analysis.findings import RULES  # noqa: E402
from ckptfix.api.schema import generated_text  # noqa: E402
from ckptfix.links import BRANCH, PROJECT_URLS, REPOSITORY, file_url  # noqa: E402

COLUMNS = 80
FIXTURES = ROOT / "fixtures"
LONG_DESCRIPTION = ROOT / "docs" / "long-description.md"
DOCS = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if p != LONG_DESCRIPTION)]

# (fixtures to copy: destination -> source under fixtures/, [(command, show the exit code)])
Setup = dict[str, str]
Commands = list[tuple[str, bool]]

#: An output folder whose latest checkpoint was written by SimpleTuner's pre-fix sine.
RUN_WITH_V1 = {"output": "output-run", "output/checkpoint-30": "sine-v1/checkpoint-30"}

TRANSCRIPTS: dict[str, tuple[Setup, Commands]] = {
    "gate": (RUN_WITH_V1, [
        ("ckptfix inspect output --latest --quiet", True),
        ("ckptfix repair output --latest --optimizer-lr", True),
        ("ckptfix inspect output --latest --quiet", True),
    ]),
    "inspect-latest": (RUN_WITH_V1, [
        ("ckptfix inspect output --latest", True),
    ]),
    "dry-run": (RUN_WITH_V1, [
        ("ckptfix repair output --latest --dry-run", True),
    ]),
    "restore": (RUN_WITH_V1, [
        ("ckptfix repair output --latest --optimizer-lr", False),
        ("ckptfix restore output --latest --list", False),
        ("ckptfix restore output --latest", True),
    ]),
    "inspect-folder": ({"output": "output-run", "output/checkpoint-30": "sine-v2/checkpoint-30"}, [
        ("ckptfix inspect output", True),
    ]),
    "inspect-flags": ({"checkpoint-30": "sine-ok/checkpoint-30"}, [
        ("ckptfix inspect checkpoint-30 --lr-end 1e-5", True),
    ]),
    "create": ({"checkpoint-30": "missing-scheduler/checkpoint-30"}, [
        ("ckptfix repair checkpoint-30", True),
        ("ckptfix repair checkpoint-30 --lr-warmup-steps 10 --lr-end 1e-6", True),
    ]),
    "optimizer-lr": ({"checkpoint-30": "sine-v1/checkpoint-30"}, [
        ("ckptfix repair checkpoint-30 --optimizer-lr", True),
    ]),
    "plot": (RUN_WITH_V1, [
        ("ckptfix inspect output --plot", False),
    ]),
    "explain": ({}, [
        ("ckptfix explain CKF030", False),
    ]),
    # docs/trainers.md: a SimpleTuner 3.1.6 checkpoint at step 20 whose epoch_step drifted to 22 (7 batches
    # per epoch), written by the fixed formula: the resume preview, the repair of epoch_step, and after
    "trainers-preview": ({"out/checkpoint-20": "simpletuner_runs/b-n1-7-batches-per-epoch/fixed/checkpoint-20"}, [
        ("ckptfix inspect out/checkpoint-20 --trainer simpletuner==3.1.6", True),
        ("ckptfix repair out/checkpoint-20 --trainer simpletuner==3.1.6", True),
        ("ckptfix inspect out/checkpoint-20 --trainer simpletuner==3.1.6 --quiet", True),
    ]),
}

_STAMP = re.compile(r"\d{8}T\d{6}\.\d{6}Z")
_FIXED_STAMP = "20260101T120000.000000Z"


def _copy(setup: Setup, where: Path) -> None:
    for dest, src in setup.items():
        target = where / dest
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(FIXTURES / src, target, symlinks=True)


def _ckptfix(argv: list[str], columns: int) -> tuple[str, int]:
    from typer.testing import CliRunner

    from ckptfix._cli import app  # noqa: PLC2701 - the transcripts run the CLI itself

    res = CliRunner().invoke(app, argv, env={"COLUMNS": str(columns), "NO_COLOR": "1", "TERM": "dumb"})
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.output, res.exit_code


def run_transcript(name: str, columns: int = COLUMNS) -> str:
    """The transcript's text: each command, its output, and ``$ echo $?`` where asked."""
    setup, commands = TRANSCRIPTS[name]
    out: list[str] = []
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="ckptfix-transcript-") as tmp:
        _copy(setup, Path(tmp))
        os.chdir(tmp)
        try:
            for command, show_exit in commands:
                argv = shlex.split(command)
                out.append(f"$ {command}")
                if argv[0] == "ckptfix":
                    text, code = _ckptfix(argv[1:], columns)
                else:
                    proc = subprocess.run(argv, capture_output=True, text=True)
                    text, code = proc.stdout + proc.stderr, proc.returncode
                out.extend(line.rstrip() for line in text.rstrip("\n").splitlines())
                if show_exit:
                    out += ["$ echo $?", str(code)]
        finally:
            os.chdir(cwd)
    return _STAMP.sub(_FIXED_STAMP, "\n".join(out)) + "\n"


def findings_table() -> str:
    rows = ["| code | name | severity | what it means | what to do |", "|---|---|---|---|---|"]
    for r in RULES.values():
        fix = r.fix.replace("|", "\\|")
        rows.append(f"| {r.code} | `{r.name}` | {r.severity} | {r.summary} | {fix} |")
    return "\n".join(rows) + "\n"


TABLES: dict[str, Callable[[], str]] = {"findings": findings_table}

_TRANSCRIPT = re.compile(r"(<!-- transcript: ([\w-]+) -->\n```text\n)(.*?)(```)", re.S)
_TABLE = re.compile(r"(<!-- generated: ([\w-]+) -->\n)(.*?)(<!-- /generated -->)", re.S)


def regenerate(text: str, cache: dict[str, str]) -> str:
    def transcript(m: re.Match[str]) -> str:
        name = m.group(2)
        if name not in TRANSCRIPTS:
            raise SystemExit(f"unknown transcript {name!r}")
        if name not in cache:
            cache[name] = run_transcript(name)
        return m.group(1) + cache[name] + m.group(4)

    def table(m: re.Match[str]) -> str:
        return m.group(1) + TABLES[m.group(2)]() + m.group(4)

    return _TABLE.sub(table, _TRANSCRIPT.sub(transcript, text))


_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
_CLONE_ONLY = re.compile(r"<!-- clone-only -->\n.*?<!-- /clone-only -->\n\n?", re.S)


def long_description(readme: str) -> str:
    """The README as the package index shows it: no docs/ beside it, so every relative link becomes the
    repository's web address, and what only makes sense in a clone is left out."""

    def absolute(m: re.Match[str]) -> str:
        image, text, target = m.groups()
        if "://" in target or target.startswith(("#", "mailto:")):
            return m.group(0)
        url = f"{REPOSITORY}/raw/{BRANCH}/{target}" if image else file_url(target)
        return f"{image}[{text}]({url})"

    body = _LINK.sub(absolute, _CLONE_ONLY.sub("", readme))
    return "<!-- Written by docs/make_transcripts.py from README.md (edit that): the package index's page. -->\n" + body


def project_urls(pyproject: str) -> str:
    """``pyproject.toml`` with its ``[project.urls]`` table written from ``ckptfix/links.py``."""
    table = "".join(f'{name} = "{url}"\n' for name, url in PROJECT_URLS.items())
    new, n = re.subn(r"(\[project\.urls\]\n)(?:[^\[\n][^\n]*\n)*", lambda m: m.group(1) + table, pyproject)
    if n != 1:
        raise SystemExit("pyproject.toml: no [project.urls] table")
    return new


def stale(write: bool = False) -> list[str]:
    """The files whose transcripts, tables or addresses are not what the tool and ``ckptfix/links.py`` give
    now (rewritten when ``write``)."""
    cache: dict[str, str] = {}
    out = []
    readme = ""
    for path in DOCS:
        text = path.read_text()
        new = regenerate(text, cache)
        if path.name == "README.md" and path.parent == ROOT:
            readme = new
        if new != text:
            out.append(str(path.relative_to(ROOT)))
            if write:
                path.write_text(new)
    derived = {
        LONG_DESCRIPTION: lambda _old: long_description(readme),
        ROOT / "pyproject.toml": project_urls,
        ROOT / "ckptfix" / "schema" / "ckptfix.schema.json": lambda _old: generated_text(),
    }
    for path, make in derived.items():
        text = path.read_text() if path.exists() else ""
        new = make(text)
        if new != text:
            out.append(str(path.relative_to(ROOT)))
            if write:
                path.write_text(new)
    return out


def main() -> int:
    check = "--check" in sys.argv[1:]
    changed = stale(write=not check)
    for name in changed:
        print(f"{'stale' if check else 'rewrote'}: {name}")
    return 1 if check and changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
