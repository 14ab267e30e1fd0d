"""--help reads: PATH and plain metavars, full one-line summaries, checkpoint-N in the examples, -V,
explain alone lists the codes, shell completion on, and it points an installed user to what they have (the
web, ckptfix explain, ckptfix schema), never to a docs/ folder. (Widths and split tokens: test_terminal.py.)"""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from ckptfix import __version__
from ckptfix._cli import app, app_for  # noqa: PLC2701 - the tests drive the CLI's Typer app
from ckptfix.analysis.findings import RULES
from ckptfix.links import REPOSITORY, doc_url
from tests.helpers import FIXTURES

pytestmark = pytest.mark.smoke  # runs from the wheel on every Python, without torch (.ci/run)

COMMANDS = ["inspect", "repair", "restore", "explain", "schema", "merge"]


def run(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "80"})


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help_has_plain_metavars_and_checkpoint_n_examples(command):
    text = run(command, "--help").output
    assert "<int" not in text and "<float" not in text and "range>" not in text and "[x>=" not in text
    assert "{" not in text and "}" not in text
    assert re.search(rf"^Usage: ckptfix {command} \[OPTIONS\]( PATH\.\.\.| FILE\.\.\.| \[CODE\])?$", text, re.M), text
    assert "ckpt-300" not in text and "README" not in text
    if command not in ("explain", "schema", "merge"):
        assert "out/checkpoint-300" in text
    for flag, metavar in (("--num-processes", "N"), ("--lr-end", "E"), ("--lr-warmup-steps", "W"), ("--step", "G")):
        if flag in text:
            assert f"{flag} {metavar}" in text, flag


def test_root_help_lists_every_command_with_a_whole_summary():
    text = run("--help").output
    for command in COMMANDS:
        line = next(line for line in text.splitlines() if line.strip().startswith(command + " "))
        assert "..." not in line, line
    assert "--install-completion" in text and "-V, --version" in text


@pytest.mark.parametrize("args", [("--help",), *((c, "--help") for c in COMMANDS)])
def test_help_points_to_what_an_installed_user_has(args):
    text = run(*args).output
    assert not re.search(r"(?<![\w/.])docs/", text), text  # a web address has .../docs/ (after a slash)
    if args == ("--help",):
        assert doc_url("exit-codes.md") in text and f"{REPOSITORY}#readme" in text
        assert "ckptfix explain CODE" in text and "ckptfix schema" in text


def test_short_version_flag():
    res = run("-V")
    assert res.exit_code == 0 and res.output.strip() == f"ckptfix {__version__}"


def test_explain_alone_lists_every_code():
    res = run("explain")
    assert res.exit_code == 0
    for code in RULES:
        assert code in res.output
    assert run("explain", "all").output == res.output
    res = run("explain", "t-cur-wrong")
    assert res.exit_code == 0 and res.output.startswith("CKF020 t-cur-wrong (error)") and "fix: " in res.output
    res = run("explain", "CKF999")
    assert res.exit_code == 2 and "ckptfix explain lists them" in res.stderr


@pytest.mark.parametrize("args", [("--num-processes", "0"), ("--lr-end", "-1"), ("--lr-end", "nan"), ("--step", "-1"),
                                  ("--jobs", "0"), ("--t-mult", "0")])
def test_bad_numbers_are_usage_errors_with_a_plain_message(args):
    res = run("inspect", str(FIXTURES / "sine-ok"), *args)
    assert res.exit_code == 2 and "or more" in res.stderr


def test_each_summary_fits_one_line_at_80_columns():
    lines = run("--help").output.split("Commands:")[1].strip("\n").splitlines()
    assert sorted(line.split()[0] for line in lines) == sorted(COMMANDS)  # one line each, no continuation


@pytest.mark.parametrize("command", COMMANDS)
def test_the_one_command_app_behaves_as_the_whole_app(command):
    """``main`` runs ``app_for(argv)``: only the named command's parameters are built (the gate's cost), with the
    same help, the same root options, and the whole app whenever no single command is named."""
    one = app_for(["--debug", command, "x"])
    assert [c.callback.__name__ for c in one.registered_commands] == [command] and one is not app
    assert app.registered_commands is not one.registered_commands and len(app.registered_commands) == len(COMMANDS)
    whole, alone = run(command, "--help"), CliRunner().invoke(one, [command, "--help"], env={"COLUMNS": "80"})
    assert (alone.exit_code, alone.output) == (whole.exit_code, whole.output)
    res = CliRunner().invoke(one, ["--debug", command, "--help"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("argv", [[], ["--help"], ["-V"], ["inpsect", "x"], ["--debug"]])
def test_the_whole_app_when_no_command_is_named(argv):
    assert app_for(argv) is app


def test_the_whole_app_for_shell_completion(monkeypatch):
    monkeypatch.setenv("_CKPTFIX_COMPLETE", "complete_bash")
    assert app_for(["inspect"]) is app
