"""Does a clock meet timing whatever the placement? One netlist, every placement kind and seed.

    python -m hw.flow.seeds --board ulx3s [--device 85F] [--model build/model]
        [--config parallel|folded] [--clock-mhz F] [--seed 1 2 3] [--out build/bench/seeds]

Synthesizes the board build once (:func:`hw.flow.build.synthesize`), then places and
routes it with each placement of :data:`hw.flow.build.PLACEMENTS` (timing-driven, and
wirelength-driven: nextpnr ``--no-tmdriv``) and each seed, one run at a time, so each run's
time is its own. Writes ``seeds.json`` and ``seeds.md`` under ``--out``: per run fmax,
whether timing is met and the seconds it took, with the machine's load average beside
them (other work on the machine slows the runs). A bench, not a test: six runs of a
ULX3S-85F build take a quarter of an hour or more.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from hw.board.boards import BOARDS, BoardError
from hw.board.pll import PllError
from hw.flow import build
from hw.flow.toolchain import configure
from sw import cli
from sw.spec.files import atomic_write

SCHEMA_VERSION = 1
SEEDS = (1, 2, 3)


def bench(options: build.Options, core_factory=None) -> dict:
    """Synthesize once, then every placement and seed alone; return the table's content."""
    board = options.board
    platform = board.platform(options.device)
    pll = board.pll(platform, options.requested_mhz(options.config) * 1e6)
    tools = configure(board.tools)
    if core_factory is None:
        from hw.board.top import LinkedCore as core_factory
    model, model_path, _ = build.obtain_model(options.model)
    attempt = build.Attempt(options.config, None, options.directory / "work")
    load_before = os.getloadavg()[0]
    placing = build.synthesize(attempt, board, options, model, pll, core_factory)
    runs = []
    for placement in build.PLACEMENTS:
        for seed in options.seeds:
            cli.say(f"  place and route: {placement} placement, seed {seed}")
            try:
                build.place_and_route(attempt, placing, (placement,), (seed,))
                outcome = {key: value for key, value in attempt.placements[0].items()
                           if key != "kept"}
            except build.DoesNotFit:
                raise
            except build.BuildError as error:
                outcome = {"placement": placement, "seed": seed, "error": str(error)}
            runs.append({**outcome, "load_average": round(os.getloadavg()[0], 2)})
            cli.say(f"    {build_outcome(runs[-1])}")
    shutil.rmtree(attempt.workdir)
    placed = [run for run in runs if "fmax_mhz" in run]
    return {
        "schema_version": SCHEMA_VERSION,
        "board": board.name, "device": platform.device, "config": options.config,
        "clock_mhz": round(pll.output_hz / 1e6, 6),
        "model": str(model_path),
        "latency_cycles": attempt.core.timing()["latency_cycles"],
        "synthesis_s": attempt.steps_s["synthesis"],
        "runs": runs,
        "all_met": len(placed) == len(runs) and all(run["timing_met"] for run in runs),
        "min_fmax_mhz": min((run["fmax_mhz"] for run in placed), default=None),
        "load_average_before": round(load_before, 2),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else
        os.cpu_count(),
        "tools": tools,
    }


def build_outcome(run: dict) -> str:
    if "error" in run:
        return f"{run['placement']} seed {run['seed']}: {run['error']}"
    return (f"{run['placement']} seed {run['seed']}: fmax {run['fmax_mhz']:.2f} MHz, "
            f"{'met' if run['timing_met'] else 'NOT met'}, {run['seconds']:.1f} s")


def markdown(table: dict) -> str:
    lines = [f"# Placement seeds: {table['board']} {table['device']}, {table['config']} core "
             f"at {table['clock_mhz']:g} MHz", "",
             f"Model `{table['model']}`, latency {table['latency_cycles']} cycles; one "
             f"netlist (synthesis {table['synthesis_s']:.1f} s), each run alone on a "
             f"{table['cores']}-core machine, load average {table['load_average_before']:g} "
             "before the first.", "",
             "| placement | seed | fmax (MHz) | timing | seconds | load average after |",
             "| --- | ---: | ---: | --- | ---: | ---: |"]
    for run in table["runs"]:
        if "error" in run:
            lines.append(f"| {run['placement']} | {run['seed']} | - | {run['error']} | - | "
                         f"{run['load_average']:g} |")
            continue
        lines.append(f"| {run['placement']} | {run['seed']} | {run['fmax_mhz']:.2f} | "
                     f"{'met' if run['timing_met'] else '**NOT met**'} | "
                     f"{run['seconds']:.1f} | {run['load_average']:g} |")
    verdict = "every run met timing" if table["all_met"] else "**not every run met timing**"
    lines += ["", f"{verdict}; lowest fmax {table['min_fmax_mhz']} MHz.", ""]
    return "\n".join(lines)


def write(table: dict, directory: Path) -> dict:
    paths = {"json": directory / "seeds.json", "md": directory / "seeds.md"}
    with atomic_write(paths["json"]) as handle:
        json.dump(table, handle, indent=1)
    with atomic_write(paths["md"]) as handle:
        handle.write(markdown(table))
    return paths


def main(argv=None) -> int:
    parser = cli.parser("python -m hw.flow.seeds", __doc__)
    parser.add_argument("--board", required=True, choices=list(BOARDS))
    parser.add_argument("--device", help="FPGA size where the board comes in several")
    parser.add_argument("--model", type=Path, default=Path("build/model"),
                        help="model artifact (directory or model.json); trained if missing")
    parser.add_argument("--config", default="parallel", choices=build.AUTO_ORDER)
    parser.add_argument("--clock-mhz", type=float,
                        help="design clock (default: the board's for the configuration)")
    parser.add_argument("--seed", type=int, nargs="+", default=SEEDS, metavar="N",
                        help="nextpnr placement seeds (default 1 2 3)")
    parser.add_argument("--out", type=Path, default=Path("build/bench/seeds"),
                        help="output directory")
    args = parser.parse_args(argv)
    chosen = BOARDS[args.board]
    options = build.Options(chosen, args.device or chosen.default_device, args.model,
                            args.config, args.clock_mhz, out=args.out, seeds=tuple(args.seed))

    def run(_):
        try:
            table = bench(options)
        except (BoardError, PllError) as error:
            raise cli.UsageError(str(error)) from None
        paths = write(table, options.out)
        print(markdown(table))
        cli.say(f"wrote {paths['json']} and {paths['md']}")

    from sw.spec.artifact import ArtifactError
    return cli.run(run, argv, failures=(build.BuildError, build.ToolchainError, ArtifactError))


if __name__ == "__main__":
    sys.exit(main())
