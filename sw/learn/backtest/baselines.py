"""Simple rules the model must beat, fitted on the training split only.

``buy-and-hold`` (always up), ``always-flat``, ``majority`` (the training split's most
common class), ``persistence`` (the class of the current candle: the label's own rule on
the return that ends at kline ``t``), ``volatility-rule`` (flat when the current candle's
``(high - low) / open`` is under a threshold, else the sign of its body; the threshold is
the training split's percentile, in steps of 5, that makes the rule most accurate there),
and ``random`` (:data:`RANDOM_DRAWS` seeded draws from the training split's class mix; the
report gives the median of each figure).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sw.learn.labels import classes
from sw.learn.model import Dataset
from sw.spec.klines import Klines

RANDOM_DRAWS = 1000
DOWN, FLAT, UP = 0, 1, 2


def candle_range(klines: Klines) -> np.ndarray:
    return (klines.high - klines.low) / klines.open.astype(float)


def volatility_rule(klines: Klines, threshold: float) -> np.ndarray:
    """Flat below ``threshold`` of range / open, else the sign of the body (flat if none)."""
    body = np.sign(klines.close - klines.open)
    return np.where(candle_range(klines) < threshold, FLAT, body + 1)


@dataclass
class Baselines:
    """The baseline rules with what they learnt from one training split."""
    dataset: Dataset
    majority: int
    mix: np.ndarray
    range_threshold: float

    @classmethod
    def fit(cls, klines: Klines, dataset: Dataset) -> "Baselines":
        train = dataset.splits["train"]
        y = dataset.y[train]
        counts = np.bincount(y, minlength=3)
        ranges = candle_range(klines)[train]
        candidates = np.percentile(ranges, np.arange(0, 100, 5))
        accuracy = [np.mean(volatility_rule(klines, t)[train] == y) for t in candidates]
        return cls(dataset, int(np.argmax(counts)), counts / counts.sum(),
                   float(candidates[int(np.argmax(accuracy))]))

    def signals(self, klines: Klines, index: np.ndarray, seed: int = 0) -> dict:
        """Signal per baseline on klines ``index`` (``random``: ``[draws, n]``)."""
        n = len(index)
        label, thresholds = self.dataset.label, self.dataset.thresholds
        persistence = classes(label.past(klines), thresholds)[index]
        rng = np.random.default_rng(seed)
        return {
            "buy-and-hold": np.full(n, UP),
            "always-flat": np.full(n, FLAT),
            "majority": np.full(n, self.majority),
            "persistence": np.where(persistence < 0, FLAT, persistence),
            "volatility-rule": volatility_rule(klines, self.range_threshold)[index],
            "random": rng.choice(3, size=(RANDOM_DRAWS, n), p=self.mix).astype(np.int8),
        }

    def to_json(self) -> dict:
        return {"majority": self.majority, "class_mix": [float(m) for m in self.mix],
                "range_threshold": self.range_threshold}
