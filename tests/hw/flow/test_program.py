"""Loading a bitstream: each board's programmer command, and a clear error naming the Debian
package when the programmer is missing."""

import pytest

from hw.board.boards import board
from hw.flow import program
from hw.flow.toolchain import ToolchainError


@pytest.fixture
def programmers(tmp_path, monkeypatch):
    """Stand-in programmers on an otherwise empty PATH."""
    for name in ("openFPGALoader", "iceprog"):
        tool = tmp_path / name
        tool.write_text("#!/bin/sh\n")
        tool.chmod(0o755)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("name, flash, options", [
    ("ulx3s", False, ["--board", "ulx3s", "--write-sram"]),
    ("ulx3s", True, ["--board", "ulx3s", "--write-flash"]),
    ("colorlight-5a75b", True, ["--cable", "ft232", "--write-flash"]),
    ("icebreaker", False, ["-S"]),
    ("icebreaker", True, []),
])
def test_programmer_commands(programmers, name, flash, options):
    chosen = board(name)
    argv = program.command(chosen, programmers / "trader.bit", flash)
    assert argv == [str(programmers / chosen.programmer), *options,
                    str(programmers / "trader.bit")]


@pytest.mark.parametrize("name, package", [("ulx3s", "openfpgaloader"),
                                           ("icebreaker", "fpga-icestorm")])
def test_missing_programmer_names_its_debian_package(tmp_path, monkeypatch, name, package):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(board(name).programmer.upper(), raising=False)
    with pytest.raises(ToolchainError, match=f"needs {board(name).programmer}, which is not "
                                             f"on PATH .*apt-get install {package}"):
        program.command(board(name), tmp_path / "trader.bin", flash=True)


def test_a_flash_only_programmer_refuses_program(tmp_path, monkeypatch):
    tool = tmp_path / "icesprog"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainError, match="writes the icesugar's flash only: use --flash"):
        program.command(board("icesugar"), tmp_path / "trader.bin", flash=False)
    assert program.command(board("icesugar"), tmp_path / "trader.bin", flash=True) == [
        str(tool), str(tmp_path / "trader.bin")]


def test_a_failing_programmer_is_a_build_error(tmp_path, monkeypatch):
    tool = tmp_path / "iceprog"
    tool.write_text("#!/bin/sh\nexit 3\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    lines = []
    with pytest.raises(program.BuildError, match="iceprog failed with exit status 3"):
        program.program(board("icebreaker"), tmp_path / "trader.bin", False, lines.append)
    assert lines == [f"programming icebreaker: {tool} -S {tmp_path / 'trader.bin'}"]
