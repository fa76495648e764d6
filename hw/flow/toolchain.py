"""Finding the FPGA tools: the system ones where installed, else the YoWASP wheels from PyPI.

Amaranth reads each tool's path from an environment variable (``YOSYS``, ``NEXTPNR_ECP5``,
``ECPPACK``, ``NEXTPNR_ICE40``, ``ICEPACK``, ...); :func:`configure` fills in the ones
the user has not set, so a fresh ``pip install`` builds bitstreams with no set-up.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from amaranth._toolchain import tool_env_var


class ToolchainError(RuntimeError):
    """A tool the build needs is not installed."""


def find_tool(name: str) -> str:
    """Path of ``name``: ``$NAME`` if set, else the system tool, else ``yowasp-name``
    (next to this Python first, so an un-activated venv works too)."""
    if override := os.environ.get(tool_env_var(name)):
        return override
    venv_bin = Path(sys.executable).parent
    for candidate in (shutil.which(name), shutil.which(f"yowasp-{name}", path=venv_bin),
                      shutil.which(f"yowasp-{name}")):
        if candidate:
            return candidate
    raise ToolchainError(f"{name} not found: install it, or `pip install yowasp-{name}` "
                         f"(or set ${tool_env_var(name)})")


def configure(names) -> dict:
    """Point Amaranth's environment variable of every tool in ``names`` at a found
    executable; return ``{name: path}``."""
    paths = {name: find_tool(name) for name in names}
    for name, path in paths.items():
        os.environ[tool_env_var(name)] = path
    return paths


def find_programmer(name: str) -> str:
    """A board programmer (``openFPGALoader``, ``iceprog``, ...): only ``--program`` needs
    one, and there is no YoWASP build of these."""
    path = os.environ.get(tool_env_var(name)) or shutil.which(name)
    if not path:
        raise ToolchainError(f"programming the board needs {name}, which is not on PATH "
                             f"(install it, or set ${tool_env_var(name)})")
    return path
