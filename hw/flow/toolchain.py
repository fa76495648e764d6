"""The FPGA tools: found (the system ones where installed, else the YoWASP wheels from PyPI),
run with a progress line while they work, and their versions.

Amaranth reads each tool's path from an environment variable (``YOSYS``, ``NEXTPNR_ECP5``,
``ECPPACK``, ``NEXTPNR_ICE40``, ``ICEPACK``, ...); :func:`configure` fills in the ones
the user has not set, so a fresh ``pip install`` builds bitstreams with no set-up.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from amaranth._toolchain import tool_env_var

#: Seconds between two progress lines while a tool runs (the README promises at most 15).
PROGRESS_EVERY_S = 10
#: How each tool tells its version; icepack has no such option.
VERSION_OPTIONS = {"yosys": "-V", "nextpnr-ecp5": "--version", "nextpnr-ice40": "--version",
                   "ecppack": "--version"}
VERSION = re.compile(r"(?:Version|Yosys)\s+(?:nextpnr-)?([^\s)]+)")


class ToolchainError(RuntimeError):
    """A tool the build needs is not installed."""


class BuildError(RuntimeError):
    """A build that cannot go on: the message says which step and why."""


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


def versions(paths: dict) -> dict:
    """``{"amaranth": {"version"}, tool: {"path", "version"}}``; a tool that does not say
    its version has ``None``."""
    return {"amaranth": {"version": metadata.version("amaranth")},
            **{name: {"path": path, "version": tool_version(name, path)}
               for name, path in paths.items()}}


def tool_version(name: str, path: str) -> str | None:
    if name not in VERSION_OPTIONS:
        return None
    try:
        done = subprocess.run([path, VERSION_OPTIONS[name]], capture_output=True, text=True,
                              timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = VERSION.search(done.stdout + done.stderr)
    return found.group(1) if found else None


class Progress:
    """Progress lines for a phase of the build, at most :data:`PROGRESS_EVERY_S` apart:
    call :meth:`tick` often; it says ``what`` (e.g. the placements still running) and the
    time elapsed when a line is due."""

    def __init__(self, say, phase: str, every: float = PROGRESS_EVERY_S):
        self.say, self.phase, self.every = say, phase, every
        self.start = self.last = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def tick(self, what: str = "running") -> None:
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.say(f"    {self.phase}: {self.elapsed:.0f} s, {what}")


def run_tool(argv: list, workdir: Path, log: str | None, progress: Progress):
    """Run one tool of the plan (``argv[0]`` is the tool name Amaranth gives) in
    ``workdir``, its output in ``<tool>.out`` there; a progress line while it runs."""
    output_path = workdir / f"{argv[0]}.out"
    with open(output_path, "w") as output:
        process = subprocess.Popen([find_tool(argv[0]), *argv[1:]], cwd=workdir,
                                   stdout=output, stderr=subprocess.STDOUT,
                                   preexec_fn=tied_to_this_process())
        try:
            while process.poll() is None:
                time.sleep(0.1)
                progress.tick(f"{argv[0]} running")
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    if process.returncode != 0:
        text = output_path.read_text(errors="replace")
        if log and (workdir / log).exists():
            text += (workdir / log).read_text(errors="replace")
        raise BuildError(tool_error(argv[0], text, process.returncode, workdir))


def tool_error(tool: str, output: str, status: int, workdir: Path) -> str:
    """The message for a failed tool: its first ERROR line, else its exit status."""
    errors = [line.strip() for line in output.splitlines() if "ERROR" in line.upper()]
    reason = errors[0][:300] if errors else f"exit status {status}"
    return f"{tool} failed: {reason} (logs in {workdir})"


PR_SET_PDEATHSIG = 1   # linux/prctl.h


def die_with(parent_pid: int) -> None:
    """End this process when ``parent_pid``, its parent, ends (Linux ``PR_SET_PDEATHSIG``;
    elsewhere nothing)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:   # the parent ended before the call
        os._exit(1)


def tied_to_this_process():
    """A ``preexec_fn`` for a tool's process: killed with this one, even by SIGKILL, so an
    interrupted build leaves no Yosys or nextpnr behind."""
    return functools.partial(die_with, os.getpid())
