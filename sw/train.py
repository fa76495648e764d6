"""Train the MLP on recorded klines, quantize it, write the artifact and the precision report.

    python -m sw.train --data ../shared/data/bybit/BTCUSDT_linear_5m.csv \\
        [--out build/model] [--reports build/reports] [--hidden 16] \\
        [--weight-bits 8|4|1] [--epochs N] [--seed S] [--label NAME] [--allow-gaps]

Training itself is :mod:`sw.learn.train`; the report :mod:`sw.learn.precision`. Per-epoch
progress goes to stderr; the artifact and report paths to stdout. Klines with gaps are
refused (``--allow-gaps`` trains across them), and so are klines that make a single label
class. The artifact is written first, then the report, which names the artifact it
describes by its SHA-256: a run interrupted between the two leaves a report that
:func:`sw.learn.precision.read` refuses for the new model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sw import cli
from sw.data import sanity
from sw.data.load import load
from sw.learn import precision
from sw.learn.labels import DEFAULT_LABEL, LABELS
from sw.learn.train import DEFAULT_EPOCHS, DEFAULT_HIDDEN, EXPORT, train
from sw.spec.artifact import ArtifactError, save
from sw.spec.klines import KlineError


def parse_hidden(text: str) -> tuple:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of "
                                         "layer sizes") from None
    if min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: layer sizes must be positive")
    return sizes


def command(argv) -> int:
    parser = cli.parser("python -m sw.train", __doc__)
    parser.add_argument("--data", required=True, help="kline file (CSV or v5 JSON response)")
    parser.add_argument("--out", default="build/model", help="artifact directory")
    parser.add_argument("--reports", default="build/reports", help="precision report directory")
    parser.add_argument("--hidden", type=parse_hidden, default=DEFAULT_HIDDEN,
                        help="hidden layer sizes, e.g. 16 or 32,16 (default 16)")
    parser.add_argument("--weight-bits", type=int, choices=sorted(EXPORT), default=8)
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label", choices=list(LABELS), default=DEFAULT_LABEL,
                        help=f"what the model calls (default {DEFAULT_LABEL}; "
                             "python -m sw.backtest says why)")
    parser.add_argument("--allow-gaps", action="store_true",
                        help="train on klines with gaps (refused otherwise)")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    out = cli.output(args.out, "--out", directory=True)
    reports = cli.output(args.reports, "--reports", directory=True)
    klines = load(args.data)
    gaps = sanity.gaps_error(klines)
    if gaps and not args.allow_gaps:
        raise KlineError(gaps)
    for line in sanity.gap_lines(klines) + sanity.warnings(klines):
        cli.say(line)
    trained = train(klines, args.hidden, args.weight_bits, args.seed, args.epochs,
                    label=args.label)
    path = save(trained.artifact, Path(out) / "model.json")
    report = precision.write(precision.measure(trained), reports, path)
    meta = trained.artifact.meta
    print(f"model: {path} ({meta['scheme']['name']}, test accuracy "
          f"{meta['test_accuracy']:.3f}, FP32 {meta['fp32_test_accuracy']:.3f})")
    print(f"precision report: {report}")
    return cli.EXIT_OK


def main(argv=None) -> int:
    return cli.run(command, argv, failures=(KlineError, ArtifactError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
