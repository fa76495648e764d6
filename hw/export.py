"""Export the signal core as standalone Verilog, with a JSON description of its timing and ports.

    python -m hw.export --model build/model [--config parallel|folded] [--out build/verilog/]

The export itself, and the JSON's keys, are :mod:`hw.flow.export`. Both files are replaced
atomically, so an interrupted export leaves the previous pair (or, between the two, a
pair that :func:`hw.flow.export.read` refuses).
"""

from __future__ import annotations

import json
import sys

from hw.flow.export import export
from hw.gateware.core import CONFIGS
from sw import cli
from sw.spec.artifact import ArtifactError


def command(argv) -> int:
    parser = cli.parser("python -m hw.export", __doc__)
    parser.add_argument("--model", default="build/model", help="model artifact (directory or file)")
    parser.add_argument("--config", default="parallel",
                        help=f"core configuration: {' or '.join(CONFIGS)} (default parallel)")
    parser.add_argument("--out", default="build/verilog", help="output directory")
    args = parser.parse_args(argv)
    out = cli.output(args.out, "--out", directory=True)
    try:
        verilog_path, json_path = export(args.model, args.config, out, cli.say)
    except ArtifactError:
        raise
    except ValueError as error:   # a configuration the core does not have
        raise cli.UsageError(error) from None
    description = json.loads(json_path.read_text())
    print(f"wrote {verilog_path} and {json_path}: {args.config} core, latency "
          f"{description['latency_cycles']} cycles, ii {description['ii']}")
    return cli.EXIT_OK


def main(argv=None) -> int:
    return cli.run(command, argv, failures=(ArtifactError,))


if __name__ == "__main__":
    sys.exit(main())
