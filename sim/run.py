"""Simulate the core on a kline file and report its latency beside the software reference.

    python -m sim.run --data ../shared/data/bybit/BTCUSDT_linear_5m.csv [--model build/model]
        [--config parallel|folded] [--waves] [--limit N] [--seed S]
        [--gap P] [--stall P] [--reports build/reports] [--build build/sim]

Exports the core's Verilog for the model (:mod:`hw.flow.export`) into
``<build>/<config>/``, streams the file through it with :mod:`sim.core_bench` on Icarus
Verilog (random backpressure, a reset mid-stream, every output checked against
``sw.spec.golden``), times the software reference on this machine (klines spread over the
whole file, whatever ``--limit``), and writes
``latency.json``, ``latency.md`` and ``latency.png`` under ``--reports``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from hw.flow.export import export
from sim import report
from sim.core_bench import MIN_KLINES
from sim.runner import ROOT, SimulationError, run_bench, waves_path
from sw.data.load import load as load_klines
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
    except (ArtifactError, ValueError) as error:
        raise ExportError(f"cannot export the {config} core: {error}") from None
    return verilog, json.loads(described.read_text())


def simulate(model_dir, data, config: str = "parallel", build_dir=None, seed: int = 0,
             limit: int | None = None, gap: float = 0.2, stall: float = 0.2,
             waves: bool = False, progress_every: int = PROGRESS_EVERY) -> dict:
    """Export and run the core bench; return the bench results with the export description
    (``core``). Raises :class:`SimulationError` when
    a check fails (the results file then still holds what was measured)."""
    build_dir = Path(build_dir or ROOT / "build" / "sim" / config).resolve()
    verilog, core = export_core(Path(model_dir).resolve(), config, build_dir)
    settings = {"model": str(Path(model_dir).resolve()), "data": str(Path(data).resolve()),
                "limit": limit, "seed": seed, "gap_probability": gap,
                "stall_probability": stall, "progress_every": progress_every,
                "declared": {"latency": core["latency_cycles"], "ii": core["ii"]}}
    results = run_bench([verilog], TOPLEVEL, "sim.core_bench", build_dir, settings, waves)
    return {**results, "core": core}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.run", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="kline file (CSV or v5 JSON response)")
    parser.add_argument("--model", default="build/model", help="model artifact directory")
    parser.add_argument("--config", choices=CONFIGS, default="parallel")
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
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < MIN_KLINES:
        parser.error(f"--limit must be at least {MIN_KLINES}, the fewest klines the core "
                     f"bench measures latency and II on (got {args.limit})")
    try:
        model = load_model(args.model)
        everything = load_klines(args.data)
        klines = everything[:args.limit]
        if len(klines) < MIN_KLINES:
            raise KlineError(f"{args.data}: {len(klines)} klines, the core bench needs at "
                             f"least {MIN_KLINES}")
        history = model.features.warmup_klines
        if len(everything) <= history:
            raise KlineError(f"{args.data}: {len(everything)} klines, timing the software "
                             f"reference needs more than the model's warm-up ({history})")
    except ArtifactError as error:
        print(f"error: {error}. Train one with `python -m sw.train --data {args.data}`.",
              file=sys.stderr)
        return 1
    except KlineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    build_dir = Path(args.build) / args.config
    print(f"simulating the {args.config} core on {len(klines):,} klines of {args.data}")
    failure, start = None, time.monotonic()
    try:
        results = simulate(args.model, args.data, args.config, build_dir, args.seed,
                           args.limit, args.gap, args.stall, args.waves)
    except (ExportError, SimulationError) as error:
        failure = error
        measured = build_dir / "results.json"
        if isinstance(error, ExportError) or not measured.is_file():
            print(f"error: {error}", file=sys.stderr)
            return 1
        results = json.loads(measured.read_text())
    results["simulation_s"] = time.monotonic() - start
    # on the whole file: a short --limit may leave no kline with the history features need
    print(f"timing the software reference on "
          f"{min(report.SOFTWARE_SAMPLES, len(everything) - history)} klines of the file")
    timings = report.software_timings(model, everything)
    about = {"config": args.config, "data": str(args.data), "model": str(args.model),
             "scheme": scheme_name(model), "simulation_s": results["simulation_s"]}
    latency = report.latency_report(results, timings,
                                    report.board_clock(ROOT / "build", args.config),
                                    about)
    paths = report.write(latency, results, timings, args.reports)
    print(f"{latency['klines']:,} klines, {latency['mismatches']} mismatches; latency "
          f"{latency['nostall_latency_cycles']['median']:g} cycles without stalls (declared "
          f"{latency['declared_latency']}), II {latency['ii']} (declared "
          f"{latency['declared_ii']}); {latency['hw_latency_ns']:.1f} ns at "
          f"{latency['clock_mhz']:.2f} MHz ({latency['clock_source']}) vs "
          f"{latency['sw_float_us']:.1f} µs sw_float: {latency['speedup_vs_sw_float']:,.0f}×; "
          f"simulated in {results['simulation_s']:.1f} s")
    print("reports: " + ", ".join(str(p) for p in paths.values()))
    if args.waves:
        print(f"waves: {waves_path(build_dir, 'signal_core')}")
    if failure:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    return 0


def probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a probability in [0, 1)")
    return value


def scheme_name(model) -> str:
    scheme = model.meta.get("scheme", "unknown")
    return scheme.get("name", "unknown") if isinstance(scheme, dict) else str(scheme)


if __name__ == "__main__":
    sys.exit(main())
