"""Build a bitstream for a board from the model artifact, and report fmax, area and latency.

    python -m hw.build --board ulx3s [--device 12F|25F|45F|85F] [--model build/model]
        [--config auto|parallel|folded] [--clock-mhz F] [--baud B] [--program]
        [--placement timing|wirelength ...] [--seed N ...] [--allow-timing-failure]
        [--keep-files]

Steps, each timed: elaborate (Amaranth), rtlil, synthesis (Yosys), place_and_route
(nextpnr, with ``--report`` for fmax and utilisation), packing (ecppack / icepack).
nextpnr runs on one core. With two cores or more, place and route races a timing-driven
placement against one driven by wirelength alone (faster, lower fmax) and keeps the first
that meets timing (:data:`PLACEMENTS`, :func:`place_and_route`); the report names it, and
``--placement P --seed N`` builds it again.
With no artifact at ``--model`` a model is trained first, from live Bybit klines or,
when Bybit cannot be reached, from synthetic ones (and every report says so).
``--config auto`` builds the fully parallel core, and falls back to the folded one when
place and route finds the device too small. Output: ``build/<board>/trader.bit``,
``report.json``, ``report.md``, ``report.png``, and the tool logs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.build.run import LocalBuildProducts
from amaranth.hdl import Fragment

from hw.board.boards import BOARDS, Board, BoardError, BoardTop
from hw.board.pll import PllError
from hw.board.uart import BaudRateError, bit_cycles
from hw.flow import report as build_report
from hw.flow.toolchain import ToolchainError, configure, find_programmer, find_tool
from hw.gateware.core import CONFIGS

DESIGN = "trader"
#: Configurations ``--config auto`` tries: every named one, fastest first.
AUTO_ORDER = tuple(CONFIGS)
TRAINING_KLINES = 5000
#: Bybit must answer within this many seconds, or the build trains on synthetic data.
BYBIT_TIMEOUT_S = 5
#: Yosys, right after reading the design: a register whose output wire has the ``keep``
#: attribute (Amaranth puts a Signal's ``attrs`` on its wire) is kept as it is. Identical
#: registers are merged otherwise, whatever their wires say; see :data:`hw.gateware.divider.UNSHARED`.
KEEP_REGISTERS = "setattr -set keep 1 a:keep %ci1:+$dff[Q] t:$dff %i"
#: nextpnr's placements, by what drives them, and their options. ``timing`` gives the best
#: fmax; ``wirelength`` (no timing-driven placement) is faster, and nextpnr still checks
#: its timing. ULX3S-85F, real-data model, seed 1, side by side (commit 63f83dd): at 100 MHz
#: wirelength met timing after 126.3 s (fmax 105.27 MHz); at 125 MHz it missed (106.50 MHz,
#: 144.5 s) and timing met it after 176.6 s (134.28 MHz).
PLACEMENTS = {"timing": [], "wirelength": ["--no-tmdriv"]}
#: A nextpnr utilisation line: ``Info:      ICESTORM_LC:  36787/  5280   696%``.
UTILISATION_LINE = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+(\d+)%", re.MULTILINE)


class BuildError(RuntimeError):
    """A build that cannot go on: the message says which step and why."""


class DoesNotFit(BuildError):
    """Place and route found more cells than the device has."""


@dataclass
class Options:
    board: Board
    device: str
    model: Path
    config: str = "auto"
    clock_mhz: float | None = None
    baud: int = 115200
    program: bool = False
    allow_timing_failure: bool = False
    keep_files: bool = False
    out: Path = Path("build")
    #: nextpnr's placements (:data:`PLACEMENTS`) and seeds: every pair is one run, side by
    #: side (:func:`place_and_route`). fmax moves with the seed by several percent (the
    #: default ULX3S-85F design at a 125 MHz target, commit 281c247: 132.01, 130.09 and
    #: 128.40 MHz with seeds 1, 2 and 3).
    placements: tuple = field(default_factory=lambda: default_placements())
    seeds: tuple = (1,)

    def __post_init__(self):
        # each placement and seed once: a run has a directory of its own
        self.placements = tuple(dict.fromkeys(self.placements))
        self.seeds = tuple(dict.fromkeys(self.seeds))

    @property
    def directory(self) -> Path:
        return self.out / self.board.name

    def requested_mhz(self, config: str) -> float:
        """The design clock asked for: ``--clock-mhz``, else the board's default for the
        core configuration ``config``."""
        return self.clock_mhz or self.board.clock_mhz[config]


@dataclass
class Attempt:
    """One run of the flow for one core configuration."""
    config: str
    core: object
    workdir: Path
    steps_s: dict = field(default_factory=dict)
    nextpnr: dict = field(default_factory=dict)
    #: the tool commands of Amaranth's build plan: synthesis, place and route, packing
    commands: list = field(default_factory=list)
    #: the placement kept (``(placement, seed)``), and what became of every run
    kept: tuple | None = None
    placements: list = field(default_factory=list)


def default_placements() -> tuple:
    """Both placements of :data:`PLACEMENTS` side by side on two cores or more, else
    the timing-driven one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        os.cpu_count() or 1
    return ("wirelength", "timing") if cores > 1 else ("timing",)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw.build",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--board", required=True, choices=list(BOARDS))
    parser.add_argument("--device", help="FPGA size where the board comes in several "
                        "(ulx3s: 12F, 25F, 45F, 85F; default 85F)")
    parser.add_argument("--model", type=Path, default=Path("build/model"),
                        help="model artifact (directory or model.json); trained if missing")
    parser.add_argument("--config", default="auto", choices=("auto", *AUTO_ORDER))
    parser.add_argument("--clock-mhz", type=float,
                        help="design clock (default: the board's for the configuration, "
                        "e.g. 100 for the ulx3s parallel core)")
    parser.add_argument("--baud", type=int, default=115200, help="UART baud rate")
    parser.add_argument("--program", action="store_true", help="program the board after")
    parser.add_argument("--placement", nargs="+", choices=list(PLACEMENTS),
                        help="nextpnr placements to race side by side, the first to meet "
                        "timing kept (default: both with two cores or more, else timing)")
    parser.add_argument("--seed", type=int, nargs="+", metavar="N", default=Options.seeds,
                        help="nextpnr placement seeds, each raced with each --placement "
                        "(default: 1; fmax varies with the seed by several %%)")
    parser.add_argument("--allow-timing-failure", action="store_true",
                        help="keep the bitstream even when fmax is below the clock")
    parser.add_argument("--keep-files", action="store_true",
                        help="keep the intermediate files (RTLIL, netlist, config)")
    parser.add_argument("--out", type=Path, default=Path("build"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    chosen = BOARDS[args.board]
    if args.baud <= 0:
        parser.error(f"--baud must be positive, got {args.baud}")
    options = Options(chosen, args.device or chosen.default_device, args.model, args.config,
                      args.clock_mhz, args.baud, args.program, args.allow_timing_failure,
                      args.keep_files, args.out,
                      placements=args.placement or default_placements(), seeds=args.seed)
    from sw.spec.artifact import ArtifactError
    try:
        build(options)
    except BoardError as error:   # an unknown --device: build() checks it first
        parser.error(str(error))
    except PllError as error:
        parser.error(f"--clock-mhz: {error}")
    except BaudRateError as error:
        parser.error(f"--baud: {error}")
    except (BuildError, ToolchainError, ArtifactError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def build(options: Options, core_factory=None) -> dict:
    """Run the whole flow; return the report. ``core_factory(model, *, config, clk_freq,
    baud)`` makes the board-independent core (default :class:`hw.board.top.LinkedCore`)."""
    board = options.board
    platform = board.platform(options.device)   # raises BoardError for an unknown device
    configs = AUTO_ORDER if options.config == "auto" else (options.config,)
    # fail before training or synthesis, not after
    plls = {config: board.pll(platform, options.requested_mhz(config) * 1e6)
            for config in configs}
    for pll in plls.values():
        bit_cycles(pll.output_hz, options.baud)
    tools = configure(board.tools)
    if options.program:
        find_programmer(board.programmer)
    if core_factory is None:
        from hw.board.top import LinkedCore as core_factory
    model, model_path, trained = obtain_model(options.model)
    for stale in options.directory.glob(f"{DESIGN}.*"):
        stale.unlink()

    outcomes = []
    for config in configs:
        attempt, pll = Attempt(config, None, options.directory / "work"), plls[config]
        try:
            run_flow(attempt, board, options, model, pll, core_factory)
        except DoesNotFit as error:
            outcomes.append({"config": config, "outcome": f"does not fit: {error}",
                             "seconds": round(sum(attempt.steps_s.values()), 2)})
            print(f"{config} core does not fit {platform.device}: {error}")
            if config == configs[-1]:
                hint = "; try --config folded" if config != AUTO_ORDER[-1] else ""
                raise BuildError(f"{config} core does not fit {platform.device}: "
                                 f"{error}{hint}") from None
            continue
        outcomes.append({"config": config, "outcome": "fits",
                         "seconds": round(sum(attempt.steps_s.values()), 2)})
        break
    decided_by = ("requested with --config" if options.config != "auto" else
                  "auto: first configuration (fastest first) that place and route fitted "
                  "in the device")
    result = make_report(attempt, board, platform, options, pll, model, model_path, trained,
                         tools, {"requested": options.config, "decided_by": decided_by,
                                 "attempts": outcomes})
    if not result["timing_met"] and not options.allow_timing_failure:
        result["bitstream"] = None
        build_report.write(result, options.directory)
        raise BuildError(f"timing not met: fmax {result['fmax_mhz']:.2f} MHz < "
                         f"{result['target_mhz']:g} MHz ({' and '.join(options.placements)} "
                         f"placement, seed {', '.join(map(str, options.seeds))}; lower "
                         f"--clock-mhz, try other --seed values, or pass "
                         f"--allow-timing-failure); no bitstream written")
    pack(attempt, board, options, result)
    paths = build_report.write(result, options.directory)
    summary(result, paths)
    if options.program:
        print(f"programming {board.name} with {board.programmer}")
        platform.toolchain_program(LocalBuildProducts(str(options.directory)), DESIGN)
    return result


def obtain_model(path: Path):
    """The artifact at ``path``, or a freshly trained one saved there."""
    from sw.spec import artifact
    file = path if path.suffix == ".json" else path / "model.json"
    if file.exists():
        return artifact.load(file), file, False
    print(f"no model at {file}: training one")
    from sw.learn.train import train_model
    klines = training_klines()
    model = train_model(klines)
    return model, artifact.save(model, file), True


def training_klines():
    """Live BTCUSDT 5-minute klines, or a deterministic synthetic series when offline."""
    from sw.data.bybit import BybitClient, BybitError
    from sw.data.synthetic import synthetic_klines
    print(f"fetching {TRAINING_KLINES} BTCUSDT linear 5m klines from Bybit")
    try:
        client = BybitClient(timeout=BYBIT_TIMEOUT_S, max_retries=1, progress=print)
        return client.klines(
            "BTCUSDT", "5", "linear", count=TRAINING_KLINES)
    except BybitError as error:
        print(f"WARNING: Bybit unreachable ({error}).\nWARNING: training on SYNTHETIC klines: "
              f"the model and every report are marked synthetic.", file=sys.stderr)
        return synthetic_klines(TRAINING_KLINES, seed=0)


def run_flow(attempt: Attempt, board: Board, options: Options, model, pll, core_factory):
    """Elaborate, convert, synthesize, place and route (not pack: timing decides that)."""
    placing = synthesize(attempt, board, options, model, pll, core_factory)
    with step(attempt, "place_and_route"):
        place_and_route(attempt, placing, options.placements, options.seeds)


def synthesize(attempt: Attempt, board: Board, options: Options, model, pll,
               core_factory) -> list:
    """Elaborate, convert and synthesize; return the place-and-route command of the plan."""
    # a fresh platform per attempt: a platform's pins can be requested by one design only
    platform = board.platform(options.device)
    if attempt.workdir.exists():
        shutil.rmtree(attempt.workdir)
    print(f"building the {attempt.config} core for {board.name} {platform.device} at "
          f"{pll.output_hz / 1e6:g} MHz")
    with step(attempt, "elaborate"):
        attempt.core = core_factory(model, config=attempt.config, clk_freq=pll.output_hz,
                                    baud=options.baud)
        fragment = Fragment.get(BoardTop(attempt.core, board.family, pll), platform)
    with step(attempt, "rtlil"):
        plan = platform.prepare(fragment, DESIGN, script_after_read=KEEP_REGISTERS,
                                **board.toolchain_opts,
                                nextpnr_opts=["--report", "nextpnr.json",
                                              "--timing-allow-fail",
                                              "--seed", str(options.seeds[0])])
        plan.extract(str(attempt.workdir))
    attempt.commands = json.loads(
        (attempt.workdir / f"build_{DESIGN}.json").read_text())["commands"]
    synthesis, placing, _ = attempt.commands
    with step(attempt, "synthesis"):
        run_tool(synthesis, attempt.workdir, f"{DESIGN}.rpt")
    return placing


@dataclass
class Run:
    """One nextpnr run: its placement and seed, process and directory, and how it ended."""
    placement: str
    seed: int
    directory: Path
    process: subprocess.Popen
    outcome: dict = field(default_factory=dict)
    nextpnr: dict | None = None


def place_and_route(attempt: Attempt, command: list, placements, seeds):
    """nextpnr once per placement (:data:`PLACEMENTS`) and seed, side by side, each in a
    directory of its own (the work directory itself for a single run). The first run to
    meet timing is kept and the others are stopped; when none does, the highest fmax once
    all have ended. The kept run's log, report and placed design end up in the work
    directory; a run that finds the design larger than the device stops them all
    (:class:`DoesNotFit`)."""
    workdir, start = attempt.workdir, time.monotonic()
    pairs = [(placement, seed) for seed in seeds for placement in placements]
    runs = []
    try:
        for placement, seed in pairs:
            directory = workdir / f"{placement}_{seed}" if len(pairs) > 1 else workdir
            directory.mkdir(exist_ok=True)
            args = [*with_seed(command[1:], seed), *PLACEMENTS[placement]]
            # the plan names its input files relative to the work directory
            argv = [find_tool(command[0]), *(os.path.relpath(workdir / arg, directory)
                                             if (workdir / arg).is_file() else arg
                                             for arg in args)]
            with open(directory / "place_and_route.out", "w") as output:
                runs.append(Run(placement, seed, directory, subprocess.Popen(
                    argv, cwd=directory, stdout=output, stderr=subprocess.STDOUT)))
        if len(runs) > 1:
            print(f"    {', '.join(map(describe, runs))} side by side", flush=True)
        kept = None
        while kept is None and any(run.process.returncode is None for run in runs):
            time.sleep(0.1)
            for run in runs:
                if run.process.returncode is None and run.process.poll() is not None:
                    finish(run, round(time.monotonic() - start, 2), len(runs) > 1)
                    if run.outcome.get("timing_met"):
                        kept = run
                        break
    finally:
        for run in runs:
            if run.process.poll() is None:
                run.process.kill()
                run.process.wait()
                run.outcome = {"stopped_after_s": round(time.monotonic() - start, 2)}
    placed = [run for run in runs if run.nextpnr is not None]
    if kept is None and not placed:
        raise BuildError(runs[0].outcome["error"])
    kept = kept or max(placed, key=lambda run: run.outcome["fmax_mhz"])
    if len(runs) > 1:
        for path in kept.directory.iterdir():
            os.replace(path, workdir / path.name)
        stopped = [describe(run) for run in runs if "stopped_after_s" in run.outcome]
        print(f"    {describe(kept)} kept" + (f"; {', '.join(stopped)} stopped"
                                                if stopped else ""), flush=True)
    kept.outcome["kept"] = True
    attempt.kept, attempt.nextpnr = (kept.placement, kept.seed), kept.nextpnr
    attempt.placements = [{"placement": run.placement, "seed": run.seed, **run.outcome}
                          for run in runs]


def describe(run: Run) -> str:
    return f"{run.placement} placement seed {run.seed}"


def finish(run: Run, seconds: float, show: bool):
    """Record how ``run`` ended: its fmax and whether timing is met, or its error."""
    if run.process.returncode != 0:
        text = (run.directory / "place_and_route.out").read_text()
        log = run.directory / f"{DESIGN}.tim"
        if log.exists():
            text += log.read_text()
        if overused := over_capacity(text):
            raise DoesNotFit(overused)
        run.outcome = {"error": tool_error("nextpnr", text, run.process.returncode,
                                           run.directory), "seconds": seconds}
        if show:
            print(f"    {describe(run)}: {run.outcome['error']}", flush=True)
        return
    run.nextpnr = json.loads((run.directory / "nextpnr.json").read_text())
    clocks = build_report.timing(run.nextpnr["fmax"])
    run.outcome = {"fmax_mhz": min(clock["achieved_mhz"] for clock in clocks.values()),
                   "timing_met": all(clock["met"] for clock in clocks.values()),
                   "seconds": seconds}
    if show:
        print(f"    {describe(run)}: fmax {run.outcome['fmax_mhz']:.2f} MHz, timing "
              f"{'met' if run.outcome['timing_met'] else 'NOT met'}, {seconds:.1f} s",
              flush=True)


def with_seed(args: list, seed: int) -> list:
    """nextpnr's arguments with ``--seed seed``."""
    args = list(args)
    if "--seed" in args:
        args[args.index("--seed") + 1] = str(seed)
        return args
    return [*args, "--seed", str(seed)]


def pack(attempt: Attempt, board: Board, options: Options, result: dict):
    """Write the bitstream, and move it, the logs and nextpnr's report out of ``work/``."""
    with step(attempt, "packing"):
        run_tool(attempt.commands[2], attempt.workdir, None)
    result["steps_s"] = dict(attempt.steps_s)
    directory = options.directory
    for name in (f"{DESIGN}.bit", f"{DESIGN}.bin", f"{DESIGN}.svf"):
        if (attempt.workdir / name).exists():
            shutil.copy(attempt.workdir / name, directory / name)
    if board.bitstream_suffix != ".bit":
        # iCE40 bitstreams are .bin; the .bit twin keeps one name across boards
        shutil.copy(directory / f"{DESIGN}{board.bitstream_suffix}", directory / f"{DESIGN}.bit")
    shutil.copy(attempt.workdir / f"{DESIGN}.rpt", directory / "yosys.log")
    shutil.copy(attempt.workdir / f"{DESIGN}.tim", directory / "nextpnr.log")
    shutil.copy(attempt.workdir / "nextpnr.json", directory / "nextpnr.json")
    if not options.keep_files:
        shutil.rmtree(attempt.workdir)


class step:
    """Time one step into ``attempt.steps_s`` and print its progress."""
    def __init__(self, attempt: Attempt, name: str):
        self.attempt, self.name = attempt, name

    def __enter__(self):
        print(f"  {self.name} ...", flush=True)
        self.start = time.monotonic()

    def __exit__(self, kind, error, trace):
        seconds = time.monotonic() - self.start
        self.attempt.steps_s[self.name] = round(seconds, 2)
        print(f"  {self.name} {'done' if kind is None else 'FAILED'} in {seconds:.1f} s",
              flush=True)


def run_tool(argv: list, workdir: Path, log: str | None):
    """Run one tool of the plan (``argv[0]`` is the tool name Amaranth gives)."""
    done = subprocess.run([find_tool(argv[0]), *argv[1:]], cwd=workdir, capture_output=True,
                          text=True)
    if done.returncode != 0:
        text = done.stdout + done.stderr
        if log and (workdir / log).exists():
            text += (workdir / log).read_text()
        raise BuildError(tool_error(argv[0], text, done.returncode, workdir))


def tool_error(tool: str, output: str, status: int, workdir: Path) -> str:
    """The message for a failed tool: its first ERROR line, else its exit status."""
    errors = [line.strip() for line in output.splitlines() if "ERROR" in line.upper()]
    reason = errors[0][:300] if errors else f"exit status {status}"
    return f"{tool} failed: {reason} (logs in {workdir})"


def over_capacity(nextpnr_log: str) -> str:
    """``"ICESTORM_LC 36787/5280 (696%)"`` for each over-used cell type, or ``""``."""
    return ", ".join(f"{cell} {used}/{available} ({percent}%)"
                     for cell, used, available, percent in UTILISATION_LINE.findall(nextpnr_log)
                     if int(used) > int(available))


def netlist_flip_flops(workdir: Path, prefix: str) -> int:
    netlist = json.loads((workdir / f"{DESIGN}.json").read_text())
    return sum(cell["type"].startswith(prefix) for module in netlist["modules"].values()
               for cell in module["cells"].values())


def make_report(attempt, board, platform, options, pll, model, model_path, trained, tools,
                config_choice) -> dict:
    clocks = build_report.timing(attempt.nextpnr["fmax"])
    fmax = min(clock["achieved_mhz"] for clock in clocks.values())
    target = max(clock["target_mhz"] for clock in clocks.values())
    clock_mhz = pll.output_hz / 1e6
    core = attempt.core
    meta = model.meta
    scheme = meta.get("scheme", "unknown")
    return {
        "schema_version": build_report.SCHEMA_VERSION,
        "board": board.name,
        "device": platform.device,
        "package": platform.package,
        "config": attempt.config,
        "config_choice": config_choice,
        "clock": {"source_mhz": platform.default_clk_frequency / 1e6,
                  "requested_mhz": options.requested_mhz(attempt.config),
                  "achieved_mhz": round(clock_mhz, 6), "pll": pll_settings(pll)},
        "clock_mhz": round(clock_mhz, 6),
        "fmax_mhz": fmax,
        "target_mhz": target,
        "placement": attempt.kept[0],
        "seed": attempt.kept[1],
        "placements": attempt.placements,
        "clocks": clocks,
        "timing_met": all(clock["met"] for clock in clocks.values()),
        "resources": build_report.resources(
            board.family, attempt.nextpnr["utilization"],
            netlist_flip_flops(attempt.workdir, build_report.FLIP_FLOP_PREFIX[board.family])),
        **build_report.latency(core.timing(), clock_mhz, fmax),
        "steps_s": dict(attempt.steps_s),
        "bitstream": str(options.directory / f"{DESIGN}.bit"),
        "model": {"path": str(model_path), "trained_now": trained,
                  "scheme": scheme["name"] if isinstance(scheme, dict) else scheme,
                  "synthetic": bool(meta.get("data", {}).get("synthetic", False)),
                  "layers": [model.layers[0].inputs, *(l.outputs for l in model.layers)],
                  "weight_bits": sorted({l.weight_bits for l in model.layers})},
        "tools": tools,
    }


def pll_settings(pll) -> dict:
    fields = {name: getattr(pll, name) for name in pll.__dataclass_fields__
              if name != "input_hz"}
    return {**fields, "vco_mhz": round(pll.vco_hz / 1e6, 6),
            "pfd_mhz": round(pll.pfd_hz / 1e6, 6)}


def summary(result: dict, paths: dict):
    model = result["model"]
    print(f"{result['board']} {result['device']}: {result['config']} core, fmax "
          f"{result['fmax_mhz']:.2f} MHz (target {result['target_mhz']:g}: "
          f"{'met' if result['timing_met'] else 'NOT MET'}), latency "
          f"{result['latency_cycles']} cycles = {result['latency_ns']:.1f} ns at "
          f"{result['clock_mhz']:g} MHz ({result['latency_ns_at_fmax']:.1f} ns at fmax), "
          f"ii {result['ii']}")
    print("  " + ", ".join(f"{name} {entry['used']}/{entry['available']}"
                           for name, entry in result["resources"].items()))
    print(f"  bitstream {result['bitstream']}, report {paths['md']}, "
          f"{sum(result['steps_s'].values()):.1f} s")
    if model["synthetic"]:
        print("WARNING: the model was trained on SYNTHETIC klines", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
