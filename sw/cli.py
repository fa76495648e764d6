"""One command-line convention for every tool: exit codes, error lines, ``--version``, ``--verbose``.

=====  ==============================================================================
exit   meaning
=====  ==============================================================================
0      success
1      runtime failure: bad data, a model that does not load, a network failure, a
       failed build, simulation or proof
2      usage error: a bad option, or a path that cannot be used, found before any work
130    interrupted (Ctrl-C or SIGTERM): one line, no child process left behind
=====  ==============================================================================

Results go to stdout; progress and diagnostics to stderr (:func:`say`). A failure ends the
run with one ``error: ...`` line naming the file, row or field; ``--verbose`` adds the
traceback of an unexpected error.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
import warnings
from importlib import metadata
from pathlib import Path

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
#: The ``python -m`` tools, by subcommand of the ``fpga-trader`` console script.
TOOLS = {
    "fetch": "sw.fetch",
    "train": "sw.train",
    "export": "hw.export",
    "build": "hw.build",
    "sim": "sim.run",
    "host": "sw.host",
    "backtest": "sw.backtest",
    "prove": "hw.prove",
    "software-bench": "sim.software_bench",
    "seeds": "hw.seeds",
    "equiv": "hw.equiv",
}


class UsageError(Exception):
    """A mistake on the command line, found before any work: exit 2."""


class Failure(Exception):
    """A runtime failure the tool has already explained in its message: exit 1."""


def version() -> str:
    try:
        return metadata.version("fpga-trader")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with ``--version`` and ``--verbose``; ``doc``'s first line is
    the description."""
    result = argparse.ArgumentParser(prog=prog, description=(doc or "").strip().split("\n")[0])
    result.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    result.add_argument("--verbose", action="store_true",
                        help="more progress, and the traceback of an unexpected error")
    return result


def output(path, option: str, directory: bool = False) -> Path:
    """``path`` if the tool can write it (a file, or with ``directory`` a directory, created
    when missing), else a :class:`UsageError` naming ``option``: found before any work."""
    path = Path(path)
    if path.exists():
        if path.is_dir() != directory:
            raise UsageError(f"{option} {path} is a {'directory' if path.is_dir() else 'file'},"
                             f" not a {'directory' if directory else 'file'}")
        existing = path if directory else path.parent
    else:
        existing = next(parent for parent in path.parents if parent.exists())
        if not existing.is_dir():
            raise UsageError(f"{option} {path}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: cannot write in {existing}")
    return path


def say(line: str) -> None:
    """A progress or diagnostic line: stderr, flushed, in one write (an interrupt cannot
    leave it without its newline)."""
    sys.stderr.write(f"{line}\n")
    sys.stderr.flush()


def run(main, argv=None, failures: tuple = ()) -> int:
    """Run ``main(argv)`` under the exit-code table: a :class:`UsageError` exits 2, a
    :class:`Failure`, an ``OSError`` or one of ``failures`` (the tool's own error types)
    exits 1 with its message, Ctrl-C (or SIGTERM) exits 130, and anything else exits 1
    with its type (the traceback with ``--verbose``). ``argparse`` itself exits 2 on a bad
    option. SIGTERM is turned into Ctrl-C while ``main`` runs, so the same clean-up runs
    (``finally`` blocks, ``subprocess.run`` killing its child)."""
    verbose = "--verbose" in (sys.argv[1:] if argv is None else argv)
    try:
        previous = signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:   # not the main thread: signals stay as they are
        previous = None
    try:
        return main(argv) or EXIT_OK
    except UsageError as error:
        say(f"error: {error}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        # work cut short warns as it is collected (Amaranth: UnusedElaboratable); the line
        # below is the last word
        warnings.simplefilter("ignore")
        say("interrupted")
        return EXIT_INTERRUPTED
    except (Failure, OSError, *failures) as error:
        say(f"error: {error}")
        return EXIT_FAILURE
    except Exception as error:   # a bug: still one line, the traceback on request
        if verbose:
            traceback.print_exc()
        say(f"error: internal error, {type(error).__name__}: {error}"
            + ("" if verbose else " (--verbose shows the traceback)"))
        return EXIT_FAILURE
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def fpga_trader(argv=None) -> int:
    """The ``fpga-trader`` console script: ``fpga-trader TOOL ...`` runs ``python -m``'s
    tool of that name."""
    import importlib
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] in (["--version"], ["-V"]):
        print(f"fpga-trader {version()}")
        return EXIT_OK
    if not argv or argv[0] not in TOOLS:
        names = ", ".join(TOOLS)
        say(f"usage: fpga-trader {{{names}}} ... (each answers --help)")
        return EXIT_USAGE if argv[:1] not in (["-h"], ["--help"]) else EXIT_OK
    return importlib.import_module(TOOLS[argv[0]]).main(argv[1:])
