"""Backtest every precision and the exported hardware model against simple baselines, net of fees.

    python -m sw.backtest --data ../shared/data/bybit/BTCUSDT_linear_5m.csv [--model DIR]
        [--maker-fee 0.0002] [--taker-fee 0.00055] [--slippage-bp 0] [--walk-forward]
        [--label NAME] [--epochs N] [--seed S] [--train-days 30] [--reports build/reports]

Trains on the file's chronological split as ``python -m sw.train`` does and trades the test
split with every scheme of the precision report, the exported hardware model (its signal
from ``sw.spec.golden.run``; with ``--model``, that artifact's) and the baselines (buy and
hold, always flat, majority class, persistence, a volatility rule, random). With
``--walk-forward``, also retrains per day over the whole file (``--train-days`` training
days, one test day) and compares the labels. Writes ``backtest.json``, ``backtest.md`` and
``backtest.png`` under ``--reports``; progress goes to stderr. See
:mod:`sw.learn.backtest.run` for the definitions.
"""

from __future__ import annotations

import sys
import time

from sw import cli
from sw.data.load import load
from sw.learn.backtest import report, run, walk
from sw.learn.labels import DEFAULT_LABEL, LABELS, MAKER_FEE, TAKER_FEE
from sw.learn.train import DEFAULT_EPOCHS, EXPORT
from sw.spec.artifact import ArtifactError
from sw.spec.artifact import load as load_model
from sw.spec.klines import KlineError

#: A fee at or above this is a typo (10 %), not a venue's price.
MAX_FEE = 0.1


def settings_of(args, model) -> run.Settings:
    """The run's settings: the options, and with ``--model`` that artifact's scheme, shape,
    training and label (an explicit ``--label`` must agree with it)."""
    costs = run.Costs(args.maker_fee, args.taker_fee, args.slippage_bp)
    plan = walk.Plan(train_days=args.train_days)
    if model is None:
        return run.Settings(label=LABELS[args.label or DEFAULT_LABEL],
                            epochs=args.epochs or DEFAULT_EPOCHS, seed=args.seed, costs=costs,
                            plan=plan)
    name = model.meta.get("scheme", {}).get("name")
    exported = {scheme.name: scheme for scheme in EXPORT.values()}
    if name not in exported:
        raise cli.UsageError(f"{args.model}: scheme {name!r} is not one python -m sw.train "
                             f"exports ({', '.join(exported)})")
    label = model.meta.get("label", {}).get("name", "terciles")
    if args.label and args.label != label:
        raise cli.UsageError(f"--label {args.label}: the model in {args.model} was trained "
                             f"on the {label} label")
    training = model.meta.get("training", {})
    return run.Settings(label=LABELS[label], exported=exported[name],
                        hidden=tuple(layer.outputs for layer in model.layers[:-1]),
                        epochs=args.epochs or training.get("epochs", DEFAULT_EPOCHS),
                        seed=training.get("seed", 0), costs=costs, plan=plan)


def main(argv=None) -> int:
    return cli.run(backtest, argv, failures=(KlineError, ArtifactError, ValueError))


def backtest(argv=None) -> int:
    parser = cli.parser("python -m sw.backtest", __doc__)
    parser.add_argument("--data", required=True, help="kline file (CSV or v5 JSON response)")
    parser.add_argument("--model", help="artifact directory of the exported model to trade "
                                        "(default: train one like python -m sw.train)")
    parser.add_argument("--maker-fee", type=float, default=MAKER_FEE,
                        help=f"fraction of the notional per trade (default {MAKER_FEE})")
    parser.add_argument("--taker-fee", type=float, default=TAKER_FEE,
                        help=f"fraction of the notional per trade (default {TAKER_FEE})")
    parser.add_argument("--slippage-bp", type=float, default=0.0,
                        help="basis points per unit of turnover, on top of either fee")
    parser.add_argument("--walk-forward", action="store_true",
                        help="retrain per day over the whole file, and compare the labels")
    parser.add_argument("--label", choices=list(LABELS),
                        help=f"label to train on (default {DEFAULT_LABEL}, or --model's)")
    parser.add_argument("--epochs", type=int,
                        help=f"training epochs of every model (default {DEFAULT_EPOCHS}, "
                             "or --model's)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (test split)")
    parser.add_argument("--train-days", type=int, default=walk.Plan.train_days,
                        help="walk-forward training window in days (default %(default)s)")
    parser.add_argument("--reports", default="build/reports", help="report directory")
    args = parser.parse_args(argv)
    for option in ("maker_fee", "taker_fee"):
        if not 0 <= getattr(args, option) < MAX_FEE:
            parser.error(f"--{option.replace('_', '-')} must be in [0, {MAX_FEE})")
    if args.slippage_bp < 0:
        parser.error("--slippage-bp must not be negative")
    if (args.epochs is not None and args.epochs < 1) or args.train_days < 1:
        parser.error("--epochs and --train-days must be at least 1")
    klines = load(args.data)
    model = load_model(args.model) if args.model else None
    settings = settings_of(args, model)
    start = time.monotonic()
    cli.say(f"backtesting {klines.source} ({len(klines):,} klines), label "
            f"{settings.label.name}, exported scheme {settings.exported.name}")
    result = run.report(klines, settings, model, args.model, args.walk_forward, say=cli.say)
    result["wall_time_s"] = round(time.monotonic() - start, 1)
    path = report.write(result, args.reports)
    summary(result)
    print(f"report: {path} (+ .md, .png), {result['wall_time_s']:.0f} s")
    return cli.EXIT_OK


def summary(result: dict) -> None:
    """The headline on stdout: the exported model beside the best baseline."""
    parts = [("test split", result["test"]["best_baseline"]["name"], result["schemes"],
              result["baselines"])]
    head = result.get("walk_forward", {}).get("pooled", {}).get("headline", {})
    if "best_baseline" in head:
        parts.append(("walk-forward, last third", head["best_baseline"]["name"],
                      head["schemes"], head["baselines"]))
    for where, best, schemes, baselines in parts:
        rows = [next(r for r in schemes if r["name"] == "exported"),
                next(r for r in baselines if r["name"] == best)]
        for row in rows:
            sharpe = "-" if row["sharpe"] is None else f"{row['sharpe']:.2f}"
            print(f"{where}: {row['name']:<16} gross {row['gross_return']:+.2%}  net maker "
                  f"{row['net_return_maker']:+.2%}  net taker {row['net_return_taker']:+.2%}  "
                  f"Sharpe {sharpe}  trades {row['trades']:,}")
    wf = result.get("walk_forward")
    if wf:
        print(f"label chosen on the first two thirds: {wf['labels']['chosen']} "
              f"(this run: {result['label']['name']})")


if __name__ == "__main__":
    sys.exit(main())
