"""The command-line convention: every tool answers --version, the fpga-trader command
dispatches to them, and cli.run maps failures onto the exit-code table."""

import importlib

import pytest

from sw import cli


@pytest.mark.parametrize("name", list(cli.TOOLS))
def test_every_tool_answers_version(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        importlib.import_module(cli.TOOLS[name]).main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"python -m {cli.TOOLS[name]} {cli.version()}"


def test_fpga_trader_runs_the_tool_of_each_subcommand(capsys):
    assert cli.fpga_trader(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"fpga-trader {cli.version()}"
    with pytest.raises(SystemExit) as exit_:
        cli.fpga_trader(["export", "--help"])
    assert exit_.value.code == 0 and "python -m hw.export" in capsys.readouterr().out
    assert cli.fpga_trader(["nope"]) == cli.EXIT_USAGE
    assert "usage: fpga-trader {fetch, train" in capsys.readouterr().err


def failing(error):
    def main(argv):
        raise error
    return main


@pytest.mark.parametrize("error, code, line", [
    (cli.UsageError("--x: bad"), 2, "error: --x: bad"),
    (cli.Failure("no data"), 1, "error: no data"),
    (FileNotFoundError("missing.csv"), 1, "error: missing.csv"),
    (KeyboardInterrupt(), 130, "interrupted"),
    (ZeroDivisionError("division by zero"), 1,
     "error: internal error, ZeroDivisionError: division by zero (--verbose shows the "
     "traceback)"),
])
def test_run_maps_failures_to_exit_codes(error, code, line, capsys):
    assert cli.run(failing(error), []) == code
    assert capsys.readouterr().err.strip().splitlines() == [line]


def test_run_with_verbose_shows_the_traceback_of_a_bug(capsys):
    assert cli.run(failing(ZeroDivisionError("division by zero")), ["--verbose"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().endswith("division by zero")


def test_run_takes_the_tools_own_errors_as_failures(capsys):
    class ToolError(RuntimeError):
        pass
    assert cli.run(failing(ToolError("board silent")), [], failures=(ToolError,)) == 1
    assert capsys.readouterr().err.strip() == "error: board silent"
