"""Is the difference real? A daily-block bootstrap of net PnL and McNemar's test on the calls."""

from __future__ import annotations

from math import lgamma, log

import numpy as np

RESAMPLES = 2000
CONFIDENCE = 0.95


def bootstrap(daily_a: np.ndarray, daily_b: np.ndarray, resamples: int = RESAMPLES,
              seed: int = 0, confidence: float = CONFIDENCE) -> dict:
    """Difference in compounded net return, ``a - b``, of two strategies' daily returns over
    the same days: resampled as whole days (blocks keep the klines of a day together, and
    a day of ``a`` with the same day of ``b``), with replacement, ``resamples`` times."""
    daily_a, daily_b = np.asarray(daily_a, float), np.asarray(daily_b, float)
    if daily_a.shape != daily_b.shape or daily_a.ndim != 1 or not len(daily_a):
        raise ValueError("bootstrap needs two equal, non-empty series of daily returns")
    a, b = np.log1p(daily_a), np.log1p(daily_b)
    pick = np.random.default_rng(seed).integers(0, len(a), (resamples, len(a)))
    differences = np.expm1(a[pick].sum(axis=1)) - np.expm1(b[pick].sum(axis=1))
    low, high = np.quantile(differences, [(1 - confidence) / 2, (1 + confidence) / 2])
    return {"days": len(a), "resamples": resamples, "seed": seed, "confidence": confidence,
            "difference": float(np.expm1(a.sum()) - np.expm1(b.sum())),
            "ci_low": float(low), "ci_high": float(high),
            "share_above_zero": float(np.mean(differences > 0))}


def mcnemar(right_a: np.ndarray, right_b: np.ndarray) -> dict:
    """Exact McNemar test on paired calls: of the klines where exactly one of ``a`` and
    ``b`` is right, ``a_only`` are ``a``'s; under the null each is ``a``'s with probability
    1/2, and ``p`` is the two-sided binomial probability of a split at least this uneven."""
    right_a, right_b = np.asarray(right_a, bool), np.asarray(right_b, bool)
    a_only, b_only = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    return {"a_only": a_only, "b_only": b_only,
            "p": binomial_two_sided(min(a_only, b_only), a_only + b_only)}


def binomial_two_sided(k: int, n: int) -> float:
    """``min(1, 2 * P(X <= k))`` for ``X ~ Binomial(n, 1/2)`` and ``k <= n / 2``."""
    if n == 0:
        return 1.0
    terms = np.array([lgamma(n + 1) - lgamma(i + 1) - lgamma(n - i + 1) - n * log(2)
                      for i in range(k + 1)])
    top = terms.max()
    return float(min(1.0, 2 * np.exp(top) * np.sum(np.exp(terms - top))))
