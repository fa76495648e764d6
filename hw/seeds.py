"""``python -m hw.seeds``: does the default clock meet timing whatever the placement?
(:mod:`hw.flow.seeds`)

    python -m hw.seeds --board ulx3s [--device 85F] [--model build/model]
        [--config parallel|folded] [--clock-mhz F] [--placement timing static wirelength]
        [--seed 1 2 3] [--out build/bench/seeds]

One synthesis, then nextpnr with each placement kind and seed, one run at a time; writes
``seeds.json`` and ``seeds.md`` under ``--out``. A bench, not a test: each run of a
ULX3S-85F build takes minutes.
"""

import sys
from pathlib import Path

from hw.board.boards import BOARDS, BoardError
from hw.board.pll import PllError
from hw.flow import build
from hw.flow.placement import PLACEMENTS
from hw.flow.seeds import SEEDS, bench, markdown, write
from hw.flow.toolchain import BuildError, ToolchainError
from sw import cli


def main(argv=None) -> int:
    parser = cli.parser("python -m hw.seeds", __doc__)
    parser.add_argument("--board", required=True, choices=list(BOARDS))
    parser.add_argument("--device", help="FPGA size where the board comes in several")
    parser.add_argument("--model", type=Path, default=Path("build/model"),
                        help="model artifact (directory or model.json)")
    parser.add_argument("--config", default="parallel", choices=build.AUTO_ORDER)
    parser.add_argument("--clock-mhz", type=float,
                        help="design clock (default: the board's for the configuration)")
    parser.add_argument("--placement", nargs="+", choices=list(PLACEMENTS),
                        default=list(PLACEMENTS),
                        help="nextpnr placements, each run with each seed (default: all)")
    parser.add_argument("--seed", type=int, nargs="+", default=SEEDS, metavar="N",
                        help="nextpnr placement seeds (default 1 2 3)")
    parser.add_argument("--out", type=Path, default=Path("build/bench/seeds"),
                        help="output directory")
    args = parser.parse_args(argv)
    chosen = BOARDS[args.board]
    options = build.Options(chosen, args.device or chosen.default_device, args.model,
                            args.config, args.clock_mhz, out=args.out, seeds=tuple(args.seed),
                            placements=tuple(args.placement), progress=cli.say)

    def run(_):
        try:
            table = bench(options)
        except (BoardError, PllError) as error:
            raise cli.UsageError(str(error)) from None
        paths = write(table, options.out)
        print(markdown(table))
        cli.say(f"wrote {paths['json']} and {paths['md']}")

    from sw.spec.artifact import ArtifactError
    return cli.run(run, argv, failures=(BuildError, ToolchainError, ArtifactError))


if __name__ == "__main__":
    sys.exit(main())
