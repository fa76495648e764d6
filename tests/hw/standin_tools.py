"""A stand-in FPGA toolchain for build tests that need the flow, not real place and route.

    python tests/hw/standin_tools.py yosys|nextpnr-ice40|icepack ARGS...

Each tool writes the files the flow reads, in seconds: ``yosys`` a log and a netlist with
one flip-flop, ``nextpnr-ice40`` its log, its ``--report`` (fmax ``$STANDIN_FMAX`` MHz,
default 100, against a 12 MHz constraint) and its ``--asc`` output, ``icepack`` a
bitstream holding ``$STANDIN_MARK``. ``nextpnr``
waits ``$STANDIN_NEXTPNR_S`` seconds first (default 0), which gives a test the time to
interrupt a build mid place and route. Every tool answers ``--version``.
"""

import json
import os
import sys
import time
from pathlib import Path


def value(args: list, option: str) -> str:
    return args[args.index(option) + 1]


def yosys(args: list):
    Path(value(args, "-l")).write_text("stand-in yosys: synthesized\n")
    script = Path(args[-1]).read_text()
    netlist = next(word for line in script.splitlines() if line.startswith("write_json")
                   for word in line.split()[1:] if not word.startswith("-"))
    Path(netlist).write_text(json.dumps({"modules": {"top": {"cells": {
        "ff": {"type": "SB_DFF"}, "lut": {"type": "SB_LUT4"}}}}}))


def nextpnr(args: list):
    time.sleep(float(os.environ.get("STANDIN_NEXTPNR_S", "0")))
    fmax = float(os.environ.get("STANDIN_FMAX", "100"))
    Path(value(args, "--log")).write_text("stand-in nextpnr: placed and routed\n")
    Path(value(args, "--report")).write_text(json.dumps({
        "fmax": {"clk": {"achieved": fmax, "constraint": 12.0}},
        "utilization": {"ICESTORM_LC": {"used": 2, "available": 5280}}}))
    Path(value(args, "--asc")).write_text("stand-in asc\n")


def icepack(args: list):
    Path(args[1]).write_bytes(f"stand-in bitstream {os.environ.get('STANDIN_MARK', '')}"
                              .encode())


TOOLS = {"yosys": yosys, "nextpnr-ice40": nextpnr, "icepack": icepack}
VARIABLES = {"yosys": "YOSYS", "nextpnr-ice40": "NEXTPNR_ICE40", "icepack": "ICEPACK"}


def install(directory: Path) -> dict:
    """An executable per tool in ``directory``; returns the environment variables that
    point Amaranth (and hw.build) at them."""
    directory.mkdir(parents=True, exist_ok=True)
    env = {}
    for tool, variable in VARIABLES.items():
        script = directory / tool
        script.write_text(f"#!/bin/sh\nexec {sys.executable} {Path(__file__)} {tool} \"$@\"\n")
        script.chmod(0o755)
        env[variable] = str(script)
    return env

if __name__ == "__main__":
    tool, *arguments = sys.argv[1:]
    if "--version" in arguments or "-V" in arguments:
        print(f"{tool} stand-in")
    else:
        TOOLS[tool](arguments)
