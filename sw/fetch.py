"""Fetch Bybit klines to a CSV, through an incremental on-disk cache.

    python -m sw.fetch --symbol BTCUSDT --category linear --interval 5 --count 2000 \\
        --out build/data/BTCUSDT_linear_5m.csv --cache-dir build/cache

The client is :mod:`sw.data.bybit`, the cache and the CSV :mod:`sw.data.fetch`. Pages,
retries and gaps are reported on stderr; the line naming the written file on stdout. Each
request ends within ``--timeout`` seconds in all; fewer candles than asked for is an error
unless ``--allow-short``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sw import cli
from sw.data.bybit import DEFAULT_URL, BybitClient, BybitError, BybitParamError
from sw.data.fetch import cached_klines, save_csv, shortfall
from sw.spec.klines import KlineError, iso, parse_time


def command(argv) -> int:
    parser = cli.parser("python -m sw.fetch", __doc__)
    parser.add_argument("--symbol", default="BTCUSDT", type=str.upper)
    parser.add_argument("--category", default="linear", choices=("linear", "inverse", "spot"))
    parser.add_argument("--interval", default="5", help="Bybit interval code (1 3 5 ... D W)")
    span = parser.add_mutually_exclusive_group(required=True)
    span.add_argument("--count", type=int, help="the latest N closed candles")
    span.add_argument("--start", type=_time_ms, help="first candle start, ISO (UTC) or ms")
    parser.add_argument("--end", type=_time_ms, help="last candle start (with --start; "
                        "default: now)")
    parser.add_argument("--out", type=Path, help="CSV to write (default: "
                        "build/data/<symbol>_<category>_<interval>m.csv)")
    parser.add_argument("--cache-dir", type=Path, help="cache directory, e.g. build/cache")
    parser.add_argument("--base-url", default=DEFAULT_URL)
    parser.add_argument("--max-retries", type=int, default=5,
                        help="retries of a failed request (default 5)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds each request may take in all, however slowly the "
                        "server answers (default 10)")
    parser.add_argument("--allow-short", action="store_true",
                        help="write fewer candles than asked for when Bybit has no more "
                        "(an error otherwise)")
    args = parser.parse_args(argv)
    if args.end is not None and args.start is None:
        parser.error("--end needs --start")
    if args.count is not None and args.count < 1:
        parser.error("--count must be at least 1")
    if args.max_retries < 0:
        parser.error(f"--max-retries must be 0 or more, got {args.max_retries}")
    if not args.timeout > 0:
        parser.error(f"--timeout must be positive, got {args.timeout:g}")
    out = cli.output(args.out or Path("build/data") /
                     f"{args.symbol}_{args.category}_{args.interval}m.csv", "--out")
    if args.cache_dir:
        cli.output(args.cache_dir, "--cache-dir", directory=True)

    client = BybitClient(args.base_url, timeout=args.timeout, max_retries=args.max_retries,
                         progress=cli.say)
    span = dict(start_ms=args.start, end_ms=args.end, count=args.count)
    try:
        if args.cache_dir:
            klines = cached_klines(client, args.cache_dir, args.symbol, args.interval,
                                   args.category, **span)
        else:
            klines = client.klines(args.symbol, args.interval, args.category, **span)
    except BybitParamError as error:   # Bybit refused the symbol, interval or span asked for
        raise cli.UsageError(error) from None
    short = shortfall(klines, **span, server_ms=client.server_ms)
    if short:
        short = (f"short answer: Bybit returned {short} ({args.symbol} {args.category} "
                 f"{args.interval}); the history may start later, or a page came back empty")
        if not args.allow_short or not len(klines):
            raise KlineError(f"{short}: run again, or pass --allow-short to write what came")
        cli.say(f"warning: {short} (--allow-short)")
    save_csv(klines, out)
    for before, after in klines.gaps:
        cli.say(f"gap: no candles between {iso(before)} and {iso(after)} (reported, not filled)")
    print(f"wrote {len(klines)} candles {iso(klines.start_ms[0])} .. {iso(klines.start_ms[-1])} "
          f"({len(klines.gaps)} gaps) to {out}")
    return cli.EXIT_OK


def _time_ms(text: str) -> int:
    try:
        return parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date-time or Unix ms") from None


def main(argv=None) -> int:
    return cli.run(command, argv, failures=(BybitError, KlineError))


if __name__ == "__main__":
    sys.exit(main())
