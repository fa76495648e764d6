"""Walk-forward folds: retrain on a window of past days, trade the next day, step a day.

Fold for UTC day ``d`` (:func:`folds`): the test klines are those starting on day ``d``
(each with a next close to trade on); the training window is the klines of the
``train_days`` whole days before it, cut chronologically into training and validation
(the last ``validation_share``, for early stopping and the QAT checkpoint). Everything
fitted (feature gains, label thresholds, the models' calibration, the baselines) sees the
window only (:func:`fold_dataset`); the features of a test kline read that kline and the
ones before it (the warm-up history precedes the window), so a position at kline ``t``
depends on klines ``<= t`` alone.

The first fold's window starts on the first whole day whose klines are all warm.
Folds are marked by where their test day lies in the file (:func:`part`): ``selection``
(ends in the first two thirds: where the label is chosen), ``headline`` (starts in the
last third: the quoted figures), or ``boundary`` (the day across the cut).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from sw.learn.backtest import schemes
from sw.learn.backtest.baselines import Baselines
from sw.learn.backtest.pnl import DAY_MS, Market
from sw.learn.labels import Label
from sw.learn.model import Dataset, split_dataset
from sw.learn.quant import Scheme
from sw.spec.features import FeatureSpec
from sw.spec.klines import Klines, iso

SELECTION_SHARE = 2 / 3
PARTS = ("selection", "boundary", "headline")


@dataclass(frozen=True)
class Plan:
    """The walk-forward schedule and what is trained per fold."""
    train_days: int = 30
    test_days: int = 1
    step_days: int = 1
    validation_share: float = 0.15
    seeds: tuple = (0, 1, 2)     # the exported scheme's; every scheme trains with seeds[0]

    def to_json(self) -> dict:
        return {"train_days": self.train_days, "test_days": self.test_days,
                "step_days": self.step_days, "validation_share": self.validation_share,
                "seeds": list(self.seeds)}


@dataclass
class Fold:
    number: int
    day: int                 # first test day, days since 1970-01-01 (UTC)
    window: np.ndarray       # training + validation klines
    test: np.ndarray
    part: str


def part(klines: Klines, first_ms: int, last_ms: int) -> str:
    """Where ``[first_ms, last_ms)`` lies against the cut at two thirds of the file's time."""
    cut = cut_ms(klines)
    return "selection" if last_ms <= cut else "headline" if first_ms >= cut else "boundary"


def cut_ms(klines: Klines) -> int:
    """Two thirds of the way from the file's first kline start to its last."""
    start, end = int(klines.start_ms[0]), int(klines.start_ms[-1])
    return int(start + SELECTION_SHARE * (end - start))


def folds(klines: Klines, plan: Plan, warmup: int = FeatureSpec().warmup_klines) -> list[Fold]:
    day = klines.start_ms // DAY_MS
    tradeable = np.arange(len(klines) - 1)
    if len(tradeable) <= warmup:
        return []
    first_whole = int(day[warmup]) + (1 if klines.start_ms[warmup] % DAY_MS else 0)
    out = []
    for d in range(first_whole + plan.train_days, int(day[-2]) + 1, plan.step_days):
        window = np.flatnonzero((day >= d - plan.train_days) & (day < d))
        test = tradeable[(day[:-1] >= d) & (day[:-1] < d + plan.test_days)]
        if len(test) and len(window):
            where = part(klines, d * DAY_MS, (d + plan.test_days) * DAY_MS)
            out.append(Fold(len(out), d, window, test, where))
    return out


def fold_dataset(klines: Klines, fold: Fold, label: Label, validation_share: float,
                 warmup: int = FeatureSpec().warmup_klines) -> tuple[Klines, Dataset]:
    """The klines a fold reads (warm-up history, window, test day, and the klines after it
    that the test labels need) and its dataset, with indices relative to them."""
    first = int(fold.window[0]) - warmup
    sub = klines[first:int(fold.test[-1]) + 1 + label.horizon]
    window, test = fold.window - first, fold.test - first
    cut = int(round(len(window) * (1 - validation_share)))
    return sub, split_dataset(sub, window[:cut], window[cut:], test, label=label)


@dataclass
class FoldResult:
    fold: Fold
    market: Market
    y: np.ndarray
    signals: dict                       # scheme -> [n] (seeds[0])
    seeds: dict                         # seed -> exported signal [n]
    baselines: dict = field(default_factory=dict)
    fitted: dict = field(default_factory=dict)


def run(klines: Klines, plan: Plan, label: Label, exported: Scheme, *, hidden, epochs: int,
        every_scheme: bool = True, say=None, what: str = "") -> list[FoldResult]:
    """Every fold: train, quantize, signal; with ``every_scheme``, all schemes for
    ``plan.seeds[0]``, the exported one for every seed, and the baselines; else FP32 and
    the exported scheme for ``plan.seeds[0]`` alone."""
    planned, results = folds(klines, plan), []
    for fold in planned:
        start = time.monotonic()
        sub, data = fold_dataset(klines, fold, label, plan.validation_share)
        signals = {}
        for seed in plan.seeds if every_scheme else plan.seeds[:1]:
            got = schemes.signals(data, sub, exported, hidden=hidden, epochs=epochs, seed=seed,
                                  every_scheme=every_scheme and seed == plan.seeds[0])
            signals[seed] = got
        test = data.splits["test"]
        result = FoldResult(fold, Market.of(sub, test), data.y[test], signals[plan.seeds[0]],
                            {seed: got["exported"] for seed, got in signals.items()},
                            fitted={"label_thresholds": list(data.thresholds),
                                    "feature_shifts": list(data.spec.shifts)})
        if every_scheme:
            baselines = Baselines.fit(sub, data)
            result.baselines = baselines.signals(sub, test, seed=fold.number)
            result.fitted["baselines"] = baselines.to_json()
        results.append(result)
        if say:
            say(f"[walk-forward{what}] fold {fold.number + 1}/{len(planned)} "
                f"{iso(fold.day * DAY_MS)[:10]} ({fold.part}): {len(fold.test)} klines, "
                f"{time.monotonic() - start:.1f} s")
    return results
