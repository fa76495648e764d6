"""Simulate the core on a kline file and report its latency beside the software reference.

    python -m sim.run --data ../shared/data/bybit/BTCUSDT_linear_5m.csv [--model build/model]
        [--config parallel|folded] [--waves] [--limit N] [--seed S]
        [--gap P] [--stall P] [--reports build/reports] [--build build/sim] [--netlist BOARD]

Exports the core's Verilog for the model (:mod:`hw.flow.export`) into
``<build>/<config>/``, streams the file through it with :mod:`sim.core_bench` on Icarus
Verilog (random backpressure, a reset mid-stream, every output checked against
``sw.spec.golden``), times the software reference on this machine on the whole file,
whatever ``--limit`` (the compiled reference :mod:`sw.spec.compiled` on every kline, before
and after the simulation, keeping the faster; the NumPy golden and float models on klines
spread over it), and writes ``latency.json``, ``latency.md`` and ``latency.png`` under
``--reports`` (:mod:`sim.report`). With ``--netlist BOARD`` the bench runs on the core
synthesized for that board, simulated gate by gate (:mod:`sim.netlist`; build directory
``<build>/<board>_<config>/``); ``latency.json`` says which (``level``: ``rtl`` or ``netlist``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from hw.board.boards import BOARDS
from hw.flow.export import TOP, ExportMismatch, export
from hw.flow.export import read as read_export
from hw.flow.toolchain import BuildError, ToolchainError
from sim import report
from sim.core_bench import MIN_KLINES
from sim.netlist import NetlistError, synthesize
from sim.runner import ROOT, SimulationError, run_bench, waves_path
from sw import cli
from sw.data import sanity
from sw.data.load import load as load_klines
from sw.spec import schema
from sw.spec.artifact import ArtifactError
from sw.spec.artifact import load as load_model
from sw.spec.klines import KlineError

CONFIGS = ("parallel", "folded")
TOPLEVEL = "signal_core"
PROGRESS_EVERY = 2000


class ExportError(RuntimeError):
    """:mod:`hw.flow.export` could not write the core's Verilog."""


def export_core(model_dir, config: str, out_dir) -> tuple[Path, dict]:
    """:func:`hw.flow.export.export` of the core; return the Verilog file and its JSON description
    (``latency``, ``ii``, ``config``, ports)."""
    try:
        verilog, described = export(model_dir, config, out_dir)
        return verilog, read_export(described)
    except (ArtifactError, ValueError, ExportMismatch) as error:
        raise ExportError(f"cannot export the {config} core: {error}") from None


def simulate(model_dir, data, config: str = "parallel", build_dir=None, seed: int = 0,
             limit: int | None = None, gap: float = 0.2, stall: float = 0.2,
             waves: bool = False, progress_every: int = PROGRESS_EVERY,
             netlist: str | None = None) -> dict:
    """Export and run the core bench; return the bench results with the export description
    (``core``). With ``netlist`` (a board name), on the core synthesized for that board
    (:func:`sim.netlist.synthesize`; the results gain its description, ``netlist``).
    Raises :class:`SimulationError` when a check fails (the results file then still holds
    what was measured)."""
    build_dir = Path(build_dir or ROOT / "build" / "sim" / config).resolve()
    verilog, core = export_core(Path(model_dir).resolve(), config, build_dir)
    iverilog_args, described = (), {}
    if netlist:
        gates = synthesize(model_dir, netlist, config, build_dir / "netlist")
        verilog, iverilog_args = gates.verilog, gates.iverilog_args
        described = {"netlist": gates.describe()}
    settings = {"model": str(Path(model_dir).resolve()), "data": str(Path(data).resolve()),
                "limit": limit, "seed": seed, "gap_probability": gap,
                "stall_probability": stall, "progress_every": progress_every,
                "declared": {"latency": core["latency_cycles"], "ii": core["ii"]}}
    results = run_bench([verilog], TOPLEVEL, "sim.core_bench", build_dir, settings, waves,
                        iverilog_args)
    return {**results, "core": core, **described}


def board_config(board: str | None, build_root: Path = ROOT / "build") -> str:
    """The configuration ``board``'s last build chose (``auto`` picks the first that fits),
    read from its ``report.json``; ``parallel`` without a board or a readable report."""
    if board:
        path = Path(build_root) / board / "report.json"
        try:   # as report.board_clock reads it: a report of another schema version is not
            chosen = json.loads(path.read_text())
            schema.check_version(chosen, schema.BUILD, str(path))
            chosen = chosen["config"]
        except (OSError, ValueError, KeyError, TypeError):   # SchemaError is a ValueError
            chosen = None
        if chosen in CONFIGS:
            return chosen
    return "parallel"


def main(argv=None) -> int:
    return cli.run(command, argv,
                   failures=(ArtifactError, KlineError, ExportError, SimulationError,
                             BuildError, ToolchainError, NetlistError))


def command(argv) -> int:
    parser = cli.parser("python -m sim.run", __doc__)
    parser.add_argument("--data", required=True, help="kline file (CSV or v5 JSON response)")
    parser.add_argument("--model", default="build/model", help="model artifact directory")
    parser.add_argument("--config", choices=CONFIGS,
                        help="core configuration (default: parallel; with --netlist BOARD, "
                        "the one the board's last build in build/BOARD chose)")
    parser.add_argument("--waves", action="store_true", help="dump an FST waveform")
    parser.add_argument("--limit", type=int,
                        help=f"first N klines only (at least {MIN_KLINES})")
    parser.add_argument("--seed", type=int, default=0, help="backpressure pattern")
    parser.add_argument("--gap", type=probability, default=0.2,
                        help="share of cycles the input is idle (default 0.2)")
    parser.add_argument("--stall", type=probability, default=0.2,
                        help="share of cycles o__ready is low (default 0.2)")
    parser.add_argument("--reports", default="build/reports", help="report directory")
    parser.add_argument("--build", default="build/sim", help="simulation build root")
    parser.add_argument("--netlist", choices=list(BOARDS), metavar="BOARD",
                        help="simulate the core synthesized for this board, gate by gate "
                        f"({', '.join(BOARDS)})")
    parser.add_argument("--force", action="store_true",
                        help="run the model on klines of another market or interval")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < MIN_KLINES:
        parser.error(f"--limit must be at least {MIN_KLINES}, the fewest klines the core "
                     f"bench measures latency and II on (got {args.limit})")
    try:
        model = load_model(args.model)
    except ArtifactError as error:
        raise ArtifactError(f"{error}. Train one with `python -m sw.train --data "
                            f"{args.data}`.") from None
    everything = load_klines(args.data)
    klines = everything[:args.limit]
    if len(klines) < MIN_KLINES:
        raise KlineError(f"{args.data}: {len(klines)} klines, the core bench needs at "
                         f"least {MIN_KLINES}")
    history = model.features.warmup_klines
    if len(everything) <= history:
        raise KlineError(f"{args.data}: {len(everything)} klines, timing the software "
                         f"reference needs more than the model's warm-up ({history})")
    sanity.vet(model.meta, klines, args.force, cli.say)
    level = "netlist" if args.netlist else "rtl"
    args.config = args.config or board_config(args.netlist)
    build_dir = Path(args.build) / (f"{args.netlist}_{args.config}" if args.netlist
                                    else args.config)
    # timed before and after the simulation, keeping the faster: a shared machine slows
    # whole minutes down
    print(f"timing the compiled reference on {len(everything):,} klines of the file")
    before = report.compiled_timings(model, everything)
    print(f"simulating the {args.config} core" +
          (f", synthesized for {args.netlist} as its build does," if args.netlist else "") +
          f" on {len(klines):,} klines of {args.data}")
    failure, start = None, time.monotonic()
    try:
        results = simulate(args.model, args.data, args.config, build_dir, args.seed,
                           args.limit, args.gap, args.stall, args.waves,
                           netlist=args.netlist)
    except SimulationError as error:
        failure = error
        measured = build_dir / "results.json"
        if not measured.is_file():
            raise
        results = json.loads(measured.read_text())
        results["core"] = read_export(build_dir / f"{TOP}.json")
    results["simulation_s"] = time.monotonic() - start
    # on the whole file: a short --limit may leave no kline with the history features need
    print(f"timing the compiled reference again, and NumPy on "
          f"{min(report.SOFTWARE_SAMPLES, len(everything) - history)} klines of the file")
    after = report.compiled_timings(model, everything)
    timings = {**min(before, after, key=lambda t: np.median(t["sw_compiled_ns"])),
               **report.numpy_timings(model, everything)}
    about = {"config": args.config, "level": level, "board": args.netlist,
             "netlist": results.get("netlist"), "data": str(args.data),
             "model": str(args.model),
             "scheme": schema.scheme(model.meta.get("scheme", "unknown")),
             "simulation_s": results["simulation_s"]}
    latency = report.latency_report(results, timings,
                                    report.board_clock(ROOT / "build", args.config,
                                                       board=args.netlist),
                                    about)
    paths = report.write(latency, results, timings, args.reports)
    print(f"{latency['klines']:,} klines, {latency['mismatches']} mismatches; latency "
          f"measured {report.fmt(latency['measured_latency_cycles'])} cycles without stalls, "
          f"II {latency['measured_ii']} (declared {latency['latency_cycles']} and "
          f"{latency['ii']}); {report.headline(latency)}; clock {latency['clock_source']}; "
          f"simulated in {results['simulation_s']:.1f} s")
    print("reports: " + ", ".join(str(p) for p in paths.values()))
    if args.waves:
        print(f"waves: {waves_path(build_dir, 'signal_core')}")
    if failure:
        raise failure
    return 0


def probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a probability in [0, 1)")
    return value


if __name__ == "__main__":
    sys.exit(main())
