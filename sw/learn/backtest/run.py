"""The backtest: every precision and every baseline, on the test split and walk-forward.

:func:`backtest` trains on the file's chronological split (as ``python -m sw.train`` does),
trades the test split with every scheme, the exported hardware model (or the ``--model``
artifact) and every baseline, and compares the exported model with the best baseline: a
daily-block bootstrap of the difference in net PnL and McNemar's test on the calls. The
best baseline is the one with the best net return after taker fees on the training split
(the random baseline, a distribution rather than one strategy, is not a candidate).

:func:`walk_forward` does the same over :mod:`sw.learn.backtest.walk`'s folds: every scheme
per fold for the first seed, the exported scheme for every seed, the baselines; then the
label study: FP32 and the exported scheme for every other label. The label is chosen on
the ``selection`` folds (the first two thirds of the file): the best net return after
taker fees among the labels whose exported model holds a position on at least
:data:`MIN_TIME_IN_MARKET` of the klines. Headline figures are the ``headline`` folds
(the last third) alone; the best baseline there is the best on the selection folds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sw.learn.backtest import pnl, schemes, stats, walk
from sw.learn.backtest.baselines import Baselines
from sw.learn.backtest.pnl import Market
from sw.learn.labels import DEFAULT_LABEL, LABELS, MAKER_FEE, TAKER_FEE, Label
from sw.learn.model import prepare
from sw.learn.precision import SCHEMES
from sw.learn.quant import Scheme
from sw.learn.train import DEFAULT_EPOCHS, DEFAULT_HIDDEN, EXPORT
from sw.spec.artifact import QuantizedModel
from sw.spec.klines import Klines, iso

SCHEMA_VERSION = 1
MIN_TIME_IN_MARKET = 0.05
CANDIDATES = ("buy-and-hold", "always-flat", "majority", "persistence", "volatility-rule")


@dataclass(frozen=True)
class Costs:
    """Fees (fractions of the traded notional) and slippage (basis points), per unit of
    turnover."""
    maker_fee: float = MAKER_FEE
    taker_fee: float = TAKER_FEE
    slippage_bp: float = 0.0

    @property
    def maker(self) -> float:
        return self.maker_fee + self.slippage_bp * 1e-4

    @property
    def taker(self) -> float:
        return self.taker_fee + self.slippage_bp * 1e-4

    def to_json(self) -> dict:
        return {"maker_fee": self.maker_fee, "taker_fee": self.taker_fee,
                "slippage_bp": self.slippage_bp, "funding": "ignored"}


@dataclass(frozen=True)
class Settings:
    label: Label = LABELS[DEFAULT_LABEL]
    exported: Scheme = EXPORT[8]
    hidden: tuple = DEFAULT_HIDDEN
    epochs: int = DEFAULT_EPOCHS
    seed: int = 0
    costs: Costs = field(default_factory=Costs)
    plan: walk.Plan = field(default_factory=walk.Plan)


def rows(signals: dict, market: Market, y: np.ndarray, costs: Costs, parts=(),
         about: dict | None = None) -> tuple[dict, list]:
    """Report rows (name -> row) of each signal on one account, and of its ``parts``; a
    batch of signals (random) gives the median of each figure. ``about[name]`` adds to a
    row."""
    whole, pieces = {}, [{} for _ in parts]
    for name, signal in signals.items():
        figures, sliced = pnl.account(signal, market, y, costs.maker, costs.taker, parts)
        summarise = pnl.row if np.ndim(signal) == 1 else pnl.median_row
        extra = (about or {}).get(name, {})
        whole[name] = summarise(figures, name=name, **extra)
        for piece, part in zip(pieces, sliced):
            piece[name] = summarise(part, name=name, **extra)
    return whole, pieces


def scheme_about(exported: Scheme, model: QuantizedModel | None = None) -> dict:
    """Each scheme row's ``scheme`` dict (the exported row names where its signal came from)."""
    about = {"fp32": {"scheme": {"name": "fp32"}}, "fp16": {"scheme": {"name": "fp16"}}}
    about.update({s.name: {"scheme": s.to_json()} for s in SCHEMES})
    source = (f"sw.spec.golden.run of the --model artifact" if model is not None else
              "sw.spec.golden.run of the exported scheme's artifact")
    about["exported"] = {"scheme": exported.to_json(), "signal": source}
    return about


def versus(name: str, signal: np.ndarray, baseline: np.ndarray, market: Market, y: np.ndarray,
           costs: Costs, seed: int = 0) -> dict:
    """Bootstrap of the difference in net PnL (taker and maker fees) and McNemar on the
    calls, of ``signal`` against the baseline ``name``."""
    known = y >= 0
    out = {"baseline": name}
    for fee, cost in (("taker", costs.taker), ("maker", costs.maker)):
        daily = [pnl.daily(pnl.Book.of(s, market).net(cost), market.day)[0]
                 for s in (signal, baseline)]
        out[f"bootstrap_{fee}"] = stats.bootstrap(*daily, seed=seed)
    out["mcnemar"] = stats.mcnemar(signal[known] == y[known], baseline[known] == y[known])
    return out


def best_baseline(table: dict) -> str:
    return max(CANDIDATES, key=lambda name: table[name]["net_return_taker"])


def span(klines: Klines, index: np.ndarray) -> dict:
    return {"klines": int(len(index)), "first": iso(int(klines.start_ms[index[0]])),
            "last": iso(int(klines.start_ms[index[-1]]))}


def backtest(klines: Klines, settings: Settings, model: QuantizedModel | None = None,
             say=None) -> dict:
    """Train on the chronological split, trade its test klines: see the module docstring."""
    data = prepare(klines, label=settings.label)
    test, train = data.splits["test"], data.splits["train"]
    if say:
        say(f"[split] training every scheme on {len(train):,} klines, "
            f"testing on {len(test):,}")
    signals = schemes.signals(data, klines, settings.exported, hidden=settings.hidden,
                              epochs=settings.epochs, seed=settings.seed)
    if model is not None:
        signals["exported"] = schemes.hardware_signal(model, klines, test)
    baselines = Baselines.fit(klines, data)
    market, y = Market.of(klines, test), data.y[test]
    base_signals = baselines.signals(klines, test, settings.seed)
    table, _ = rows(signals, market, y, settings.costs,
                    about=scheme_about(settings.exported, model))
    base_table, _ = rows(base_signals, market, y, settings.costs)
    on_train, _ = rows({name: s for name, s in baselines.signals(klines, train).items()
                        if name in CANDIDATES}, Market.of(klines, train), data.y[train],
                       settings.costs)
    best = best_baseline(on_train)
    return {
        **span(klines, test), "days": int(len(np.unique(market.day))),
        "split": data.sizes(),
        "label": data.label.to_json(data.thresholds),
        "feature_shifts": list(data.spec.shifts),
        "baselines_fitted": baselines.to_json(),
        "schemes": list(table.values()),
        "baselines": list(base_table.values()),
        "best_baseline": {"name": best, "chosen_on": "training split",
                          "net_return_taker_on_training": on_train[best]["net_return_taker"]},
        "exported_vs_best_baseline": versus(best, signals["exported"], base_signals[best],
                                            market, y, settings.costs, settings.seed),
        "equity": equity_curves({**signals, "buy-and-hold": base_signals["buy-and-hold"]},
                                market, settings.costs),
    }


#: The curves the plot draws.
CURVES = ("exported", "fp32", "int4-qat", "buy-and-hold")


def equity_curves(signals: dict, market: Market, costs: Costs) -> dict:
    """Equity after taker fees at the end of each UTC day, of :data:`CURVES`, and the
    exported model's before fees."""
    out = {"days": [iso(int(d) * pnl.DAY_MS)[:10] for d in np.unique(market.day)]}
    for name in CURVES:
        book = pnl.Book.of(signals[name], market)
        out[name] = np.cumprod(1 + pnl.daily(book.net(costs.taker), market.day)[0]).tolist()
        if name == "exported":
            out["exported, before fees"] = np.cumprod(
                1 + pnl.daily(book.gross, market.day)[0]).tolist()
    return out


@dataclass
class Pooled:
    """The folds' test klines end to end, with every signal over them."""
    results: list
    market: Market
    y: np.ndarray
    signals: dict
    seeds: dict
    baselines: dict
    bounds: np.ndarray          # fold i is klines bounds[i]:bounds[i + 1]

    @classmethod
    def of(cls, results: list) -> "Pooled":
        def join(get, axis=-1):
            return np.concatenate([get(r) for r in results], axis=axis)
        first = results[0]
        return cls(results, Market.join([r.market for r in results]), join(lambda r: r.y),
                   {name: join(lambda r, n=name: r.signals[n]) for name in first.signals},
                   {seed: join(lambda r, s=seed: r.seeds[s]) for seed in first.seeds},
                   {name: join(lambda r, n=name: r.baselines[n]) for name in first.baselines},
                   np.cumsum([0] + [len(r.fold.test) for r in results]))

    def folds(self) -> list[slice]:
        return [slice(a, b) for a, b in zip(self.bounds, self.bounds[1:])]

    def part(self, name: str) -> slice | None:
        """The klines of the folds marked ``name`` (they follow each other)."""
        numbers = [i for i, r in enumerate(self.results) if r.fold.part == name]
        return slice(self.bounds[numbers[0]], self.bounds[numbers[-1] + 1]) if numbers else None


def seed_signals(pooled: Pooled, part=slice(None)) -> dict:
    return {f"exported-seed-{seed}": signal[part] for seed, signal in pooled.seeds.items()}


def spread(values) -> dict:
    values = np.array([v for v in values if v is not None], dtype=float)
    return {"count": int(len(values)), "min": float(values.min()),
            "median": float(np.median(values)), "max": float(values.max()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "positive": int(np.sum(values > 0))}


def walk_forward(klines: Klines, settings: Settings, say=None) -> dict:
    """Walk-forward over the whole file: see the module docstring."""
    costs, plan = settings.costs, settings.plan
    results = walk.run(klines, plan, settings.label, settings.exported, hidden=settings.hidden,
                       epochs=settings.epochs, say=say, what=f" {settings.label.name}")
    if not results:
        raise ValueError(f"{klines.source}: {len(klines)} klines hold no walk-forward fold "
                         f"of {plan.train_days} training days and a test day")
    pooled = Pooled.of(results)
    about = scheme_about(settings.exported)
    market, y, parts = pooled.market, pooled.y, pooled.folds()
    _, fold_schemes = rows(pooled.signals, market, y, costs, parts, about)
    _, fold_seeds = rows(seed_signals(pooled), market, y, costs, parts)
    _, fold_baselines = rows(pooled.baselines, market, y, costs, parts)
    folds = [{"fold": r.fold.number, "test_day": iso(r.fold.day * pnl.DAY_MS)[:10],
              "part": r.fold.part, "train_klines": int(len(r.fold.window)),
              "test_klines": int(len(r.fold.test)), **r.fitted,
              "schemes": list(s.values()), "exported_seeds": list(e.values()),
              "baselines": list(b.values())}
             for r, s, e, b in zip(results, fold_schemes, fold_seeds, fold_baselines)]
    summary = {name: pooled_part(pooled, name, costs, about) for name in ("all",) + walk.PARTS
               if name == "all" or pooled.part(name) is not None}
    if "selection" in summary and "headline" in summary:
        best = best_baseline({row["name"]: row for row in summary["selection"]["baselines"]})
        headline = pooled.part("headline")
        summary["headline"]["best_baseline"] = {"name": best, "chosen_on": "selection folds"}
        summary["headline"]["exported_vs_best_baseline"] = versus(
            best, pooled.signals["exported"][headline], pooled.baselines[best][headline],
            market[headline], y[headline], costs, settings.seed)
        summary["headline"]["equity"] = equity_curves(
            {**{n: s[headline] for n, s in pooled.signals.items()},
             "buy-and-hold": pooled.baselines["buy-and-hold"][headline]},
            market[headline], costs)
    return {
        "plan": {**plan.to_json(), "epochs": settings.epochs},
        "cut": iso(walk.cut_ms(klines)),
        "folds": folds,
        "pooled": summary,
        "spread": {key: fold_spread(folds, key) for key in ("net_return_taker", "gross_return")},
        "labels": label_study(klines, settings, pooled, say),
    }


def pooled_part(pooled: Pooled, name: str, costs: Costs, about: dict) -> dict:
    """One account over the folds of a part (``all``: every fold), flat at its start and end."""
    part = slice(None) if name == "all" else pooled.part(name)
    market, y = pooled.market[part], pooled.y[part]
    folds = [r for r in pooled.results if name == "all" or r.fold.part == name]
    table, _ = rows({n: s[part] for n, s in pooled.signals.items()}, market, y, costs,
                    about=about)
    seeds, _ = rows(seed_signals(pooled, part), market, y, costs)
    baselines, _ = rows({n: s[..., part] for n, s in pooled.baselines.items()}, market, y, costs)
    return {"folds": len(folds), "first_day": iso(folds[0].fold.day * pnl.DAY_MS)[:10],
            "last_day": iso(folds[-1].fold.day * pnl.DAY_MS)[:10], "klines": int(len(y)),
            "days": int(len(np.unique(market.day))),
            "schemes": list(table.values()), "exported_seeds": list(seeds.values()),
            "baselines": list(baselines.values())}


def fold_spread(folds: list, key: str) -> dict:
    """Spread across folds of each scheme's ``key``, and of the exported scheme's across
    folds and seeds."""
    names = [row["name"] for row in folds[0]["schemes"]]
    out = {name: spread(f["schemes"][i][key] for f in folds) for i, name in enumerate(names)}
    out["exported, every seed"] = spread(row[key] for f in folds for row in f["exported_seeds"])
    return out


def label_study(klines: Klines, settings: Settings, pooled: Pooled, say=None) -> dict:
    """FP32 and the exported scheme walked forward with every label (the run's own label
    from ``pooled``); the choice on the selection folds."""
    candidates = []
    for label in LABELS.values():
        if label != settings.label:
            pooled_label = Pooled.of(walk.run(
                klines, settings.plan, label, settings.exported, hidden=settings.hidden,
                epochs=settings.epochs, every_scheme=False, say=say, what=f" {label.name}"))
        else:
            pooled_label = pooled
        entry = label.to_json()
        for name in ("selection", "headline"):
            part = pooled_label.part(name)
            if part is not None:
                table, _ = rows({n: pooled_label.signals[n][part] for n in ("exported", "fp32")},
                                pooled_label.market[part], pooled_label.y[part], settings.costs)
                entry[name] = list(table.values())
        if "selection" in entry:
            entry["eligible"] = entry["selection"][0]["time_in_market"] >= MIN_TIME_IN_MARKET
        candidates.append(entry)
    eligible = [c for c in candidates if c.get("eligible")]
    chosen = max(eligible, key=lambda c: c["selection"][0]["net_return_taker"])["name"] \
        if eligible else None
    return {"candidates": candidates, "chosen": chosen, "min_time_in_market": MIN_TIME_IN_MARKET,
            "rule": ("the best net return after taker fees of the exported model on the "
                     "selection folds, among the labels whose exported model holds a "
                     f"position on at least {MIN_TIME_IN_MARKET:.0%} of the klines there")}


DEFINITIONS = {
    "position": "set at the close of kline t from klines up to t: -1 on a down call, 0 flat, "
                "+1 up; earns p[t] * (close[t+1] / close[t] - 1)",
    "costs": "each change of position pays (fee + slippage) * |p[t] - p[t-1]| of the equity "
             "(a flip twice; the first entry and the final exit too); returns compound; "
             "funding is ignored",
    "sharpe": "daily (UTC) compounded net returns after taker fees, mean / standard "
              "deviation * sqrt(365), risk-free rate 0; null when undefined",
    "max_drawdown": "largest fall of the equity after taker fees from its running peak",
    "trades": "position changes (a flip is one), the final exit included",
    "turnover": "sum of |p[t] - p[t-1]| with the final exit, in multiples of the equity",
    "time_in_market": "share of klines with a position",
    "hit_rate": "share of the klines with a position where the next close moved its way "
                "(an unchanged close is a miss); null without positions",
    "accuracy": "calls equal to the label; balanced_accuracy: the mean recall of the "
                "classes present",
    "random": "median of each figure over 1,000 seeded draws from the training class mix",
    "best_baseline": "the best net return after taker fees on the training split (walk-"
                     "forward: on the selection folds), random excluded",
    "bootstrap": "exported minus best baseline, compounded net return; whole UTC days "
                 "resampled with replacement (2,000 seeded resamples), percentile interval",
    "mcnemar": "exact two-sided binomial test on the klines where exactly one of the two "
               "calls is right",
}


def describe_data(klines: Klines) -> dict:
    return {"source": klines.source, "synthetic": bool(klines.synthetic),
            "symbol": klines.instrument.symbol, "category": klines.instrument.category,
            "interval": klines.interval, "klines": len(klines),
            "first": iso(int(klines.start_ms[0])), "last": iso(int(klines.start_ms[-1]))}


def multiple_testing(report: dict) -> dict:
    """How many model variants the report looks at, and what that does to a p-value."""
    variants = len(report["schemes"])
    wf = report.get("walk_forward")
    if wf:
        variants += len(wf["folds"][0]["schemes"]) + len(wf["folds"][0]["exported_seeds"]) - 1
        variants += 2 * (len(wf["labels"]["candidates"]) - 1)
    bonferroni = 0.05 / variants
    return {"variants": variants, "bonferroni_p": bonferroni, "sentence": (
        f"This report looks at {variants} model variants (precisions, seeds"
        f"{', labels' if wf else ''}, the test split{' and walk-forward' if wf else ''}) "
        f"against six baselines; among that many, about {0.05 * variants:.1f} would reach "
        f"p < 0.05 by chance alone, so a single small p-value is no evidence of an edge: "
        f"Bonferroni asks for p < {bonferroni:.4f}, and a real edge should also show in "
        f"most folds and seeds.")}


def report(klines: Klines, settings: Settings, model: QuantizedModel | None = None,
           model_path: str | None = None, with_walk_forward: bool = False, say=None) -> dict:
    """Everything ``backtest.json`` holds."""
    split = backtest(klines, settings, model, say)
    out = {
        "schema_version": SCHEMA_VERSION,
        "data": describe_data(klines),
        "scheme": settings.exported.to_json(),
        "label": split.pop("label"),
        "costs": settings.costs.to_json(),
        "training": {"hidden": list(settings.hidden), "epochs": settings.epochs,
                     "seed": settings.seed, "optimizer": "adam"},
        "model": {"path": model_path, "trained_on": model.meta.get("data") if model else None},
        "definitions": DEFINITIONS,
        "schemes": split.pop("schemes"),
        "baselines": split.pop("baselines"),
        "test": split,
    }
    if with_walk_forward:
        out["walk_forward"] = walk_forward(klines, settings, say)
    out["multiple_testing"] = multiple_testing(out)
    return out
