"""Build a bitstream for a board from the model artifact, and report fmax, area and latency.

    python -m hw.build --board ulx3s [--device 12F|25F|45F|85F] [--model build/model]
        [--config auto|parallel|folded] [--clock-mhz F] [--baud B] [--program | --flash]
        [--rebuild] [--placement timing|static|wirelength ...] [--seed N ...]
        [--allow-timing-failure] [--keep-files]

The flow is :mod:`hw.flow.build`. Without ``--model`` and with no artifact at
``build/model`` a model is trained there first, from live Bybit klines or, when Bybit
cannot be reached, from synthetic ones (and every report says so); an explicit ``--model``
that is not an artifact is a usage error, as are a clock of 0 or below and an output that
cannot be written, all found before any work. ``--program`` loads the bitstream into the FPGA, ``--flash`` into
the board's flash (:mod:`hw.flow.program`); a bitstream already built from the same model
with the same options is loaded as it is (``--rebuild`` builds it again). Progress goes to
stderr, a line at least every 15 s; the summary to stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hw.board.boards import BOARDS, BoardError
from hw.board.pll import PllError
from hw.board.uart import BaudRateError
from hw.flow import program
from hw.flow.build import AUTO_ORDER, Options, build, target, up_to_date
from hw.flow.placement import PLACEMENTS, default_placements
from hw.flow.toolchain import BuildError, ToolchainError
from sw import cli
from sw.spec import artifact

DEFAULT_MODEL = Path("build/model")
TRAINING_KLINES = 5000
#: Bybit must answer within this many seconds, or the build trains on synthetic data.
BYBIT_TIMEOUT_S = 5


def parser() -> argparse.ArgumentParser:
    result = cli.parser("python -m hw.build", __doc__)
    result.add_argument("--board", required=True, choices=list(BOARDS))
    result.add_argument("--device", help="FPGA size where the board comes in several "
                        "(ulx3s: 12F, 25F, 45F, 85F; default 85F)")
    result.add_argument("--model", type=Path,
                        help=f"model artifact (directory or model.json; default {DEFAULT_MODEL},"
                        " trained there when missing)")
    result.add_argument("--config", default="auto", choices=("auto", *AUTO_ORDER))
    defaults = "; ".join(f"{name}: " + ", ".join(f"{config} {mhz:g}" for config, mhz in
                                                 board.clock_mhz.items())
                         for name, board in BOARDS.items())
    result.add_argument("--clock-mhz", type=float,
                        help=f"design clock in MHz (default: the board's for the core "
                        f"configuration; {defaults})")
    result.add_argument("--baud", type=int, default=115200, help="UART baud rate")
    load = result.add_mutually_exclusive_group()
    load.add_argument("--program", action="store_true",
                      help="load the bitstream into the FPGA (lost at power-off)")
    load.add_argument("--flash", action="store_true",
                      help="write the bitstream into the board's flash")
    result.add_argument("--rebuild", action="store_true",
                        help="with --program or --flash: build even when a bitstream of "
                        "the same model and options exists")
    result.add_argument("--placement", nargs="+", choices=list(PLACEMENTS),
                        help="nextpnr placements to race side by side, the first to meet "
                        "timing kept (default: one per core, in the order timing, static, "
                        "wirelength)")
    result.add_argument("--seed", type=int, nargs="+", metavar="N", default=Options.seeds,
                        help="nextpnr placement seeds, each raced with each --placement "
                        "(default: 1; fmax varies with the seed by several %%)")
    result.add_argument("--allow-timing-failure", action="store_true",
                        help="keep the bitstream even when fmax is below the clock")
    result.add_argument("--keep-files", action="store_true",
                        help="keep the intermediate files (RTLIL, netlist, config)")
    result.add_argument("--out", type=Path, default=Path("build"), help=argparse.SUPPRESS)
    return result


def command(argv) -> int:
    arguments = parser()
    args = arguments.parse_args(argv)
    chosen = BOARDS[args.board]
    if args.baud <= 0:
        arguments.error(f"--baud must be positive, got {args.baud}")
    if args.clock_mhz is not None and not args.clock_mhz > 0:
        arguments.error(f"--clock-mhz must be positive, got {args.clock_mhz:g}")
    model = DEFAULT_MODEL if args.model is None else explicit_model(args.model)
    cli.output(args.out / chosen.name, "--out", directory=True)
    options = Options(chosen, args.device or chosen.default_device, model, args.config,
                      args.clock_mhz, args.baud, args.allow_timing_failure, args.keep_files,
                      args.out, placements=args.placement or default_placements(),
                      seeds=args.seed, progress=cli.say)
    loading = args.program or args.flash
    try:   # everything that can fail before training or synthesis
        target(options)
        if loading:
            program.command(chosen, options.packed, args.flash)
    except BoardError as error:   # an unknown --device
        arguments.error(str(error))
    except PllError as error:
        arguments.error(f"--clock-mhz: {error}")
    except BaudRateError as error:
        arguments.error(f"--baud: {error}")
    existing = loading and not args.rebuild and up_to_date(options)
    if existing:
        cli.say(f"{options.packed} was built from {options.model_file} with these options: "
                "loading it as it is (--rebuild builds it again)")
    else:
        trained_now = obtain_model(options.model_file)
        summary(build(options, trained_now=trained_now), options)
    if loading:
        program.program(chosen, options.packed, args.flash, cli.say)
    return cli.EXIT_OK


def explicit_model(path: Path) -> Path:
    """A ``--model`` given on the command line must be an artifact already (a usage error
    before any work otherwise): only the default place is trained when empty."""
    try:
        artifact.load(path)
    except artifact.ArtifactError as error:
        raise cli.UsageError(f"--model: {error}") from None
    return path


def obtain_model(file: Path) -> bool:
    """Train and save a model at ``file`` unless there is one; ``True`` when trained."""
    if file.exists():
        return False
    cli.say(f"no model at {file}: training one")
    from sw.learn.train import train_model
    artifact.save(train_model(training_klines()), file)
    return True


def training_klines():
    """Live BTCUSDT 5-minute klines, or a deterministic synthetic series when offline."""
    from sw.data.bybit import BybitClient, BybitError
    from sw.data.synthetic import synthetic_klines
    cli.say(f"fetching {TRAINING_KLINES} BTCUSDT linear 5m klines from Bybit")
    try:
        client = BybitClient(timeout=BYBIT_TIMEOUT_S, max_retries=1, progress=cli.say)
        return client.klines("BTCUSDT", "5", "linear", count=TRAINING_KLINES)
    except BybitError as error:
        cli.say(f"WARNING: Bybit unreachable ({error}).\nWARNING: training on SYNTHETIC "
                "klines: the model and every report are marked synthetic.")
        return synthetic_klines(TRAINING_KLINES, seed=0)


def summary(result: dict, options: Options):
    """The build's result, on stdout."""
    print(f"{result['board']} {result['device']}: {result['config']} core, fmax "
          f"{result['fmax_mhz']:.2f} MHz (target {result['target_mhz']:g}: "
          f"{'met' if result['timing_met'] else 'NOT MET'}), latency "
          f"{result['latency_cycles']} cycles = {result['latency_ns']:.1f} ns, "
          f"ii {result['ii']}")
    print("  " + ", ".join(f"{name} {entry['used']}/{entry['available']}"
                           for name, entry in result["resources"].items()))
    if path := result["critical_path"]:
        print(f"  critical path {path['delay_ns']:.2f} ns ({path['logic_ns']:.2f} logic, "
              f"{path['routing_ns']:.2f} routing): {path['from']} -> {path['to']}")
    print(f"  bitstream {result['bitstream']}, report {options.directory / 'report.md'}, "
          f"{sum(result['steps_s'].values()):.1f} s")
    if result["model"]["synthetic"]:
        cli.say("WARNING: the model was trained on SYNTHETIC klines")


def main(argv=None) -> int:
    return cli.run(command, argv, failures=(BuildError, ToolchainError, artifact.ArtifactError))


if __name__ == "__main__":
    sys.exit(main())
