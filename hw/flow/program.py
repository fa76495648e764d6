"""Load a bitstream onto a board: into the FPGA itself (``--program``, lost at power-off) or
into the board's configuration flash (``--flash``, loaded at every power-on).

The programmers are system tools (there are no YoWASP builds of them); a missing one is a
clear error naming the Debian package that has it. Nothing is installed for the user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from amaranth._toolchain import tool_env_var

from hw.flow.toolchain import BuildError, ToolchainError


@dataclass(frozen=True)
class Programmer:
    """A programmer tool: the Debian package it comes in (``None``: not in Debian, then
    ``source`` says where), and its options to load the FPGA (``sram``; ``None`` when the
    tool writes the flash only) or to write the flash."""
    debian: str | None
    sram: tuple | None
    flash: tuple
    source: str = ""


PROGRAMMERS = {
    "openFPGALoader": Programmer("openfpgaloader", ("--write-sram",), ("--write-flash",)),
    "iceprog": Programmer("fpga-icestorm", ("-S",), ()),
    "icesprog": Programmer(None, None, (), source="https://github.com/wuxx/icesugar"),
}


def find_programmer(name: str) -> str:
    """The programmer's path: ``$NAME`` (Amaranth's variable for it) if set, else on PATH."""
    path = os.environ.get(tool_env_var(name)) or shutil.which(name)
    if path:
        return path
    programmer = PROGRAMMERS[name]
    where = (f"`sudo apt-get install {programmer.debian}` on Debian" if programmer.debian
             else f"it is not packaged in Debian: {programmer.source}")
    raise ToolchainError(f"programming the board needs {name}, which is not on PATH "
                         f"({where}; or set ${tool_env_var(name)})")


def command(board, bitstream: Path, flash: bool) -> list:
    """The programmer's command line for ``board``: raises :class:`ToolchainError` when the
    tool is missing or cannot do what is asked, before anything is built."""
    programmer = PROGRAMMERS[board.programmer]
    mode = programmer.flash if flash else programmer.sram
    if mode is None:
        raise ToolchainError(f"{board.programmer} writes the {board.name}'s flash only: "
                             "use --flash")
    return [find_programmer(board.programmer), *board.programmer_args, *mode, str(bitstream)]


def program(board, bitstream: Path, flash: bool, say) -> None:
    """Load ``bitstream`` (the packer's own file: ``.bit`` or ``.bin``) onto ``board``."""
    argv = command(board, bitstream, flash)
    say(f"{'flashing' if flash else 'programming'} {board.name}: {' '.join(argv)}")
    done = subprocess.run(argv)
    if done.returncode != 0:
        raise BuildError(f"{board.programmer} failed with exit status {done.returncode} "
                         f"(is the board connected, and may this user open it?)")
