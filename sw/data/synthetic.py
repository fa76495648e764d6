"""Synthetic klines for when Bybit cannot be reached: deterministic, valid, and marked.

Log returns follow a GARCH(1, 1) process with Student-t shocks, so calm and volatile
stretches alternate and large moves come in clusters, as in real 5-minute BTC data.
Each candle opens at the previous close; its wicks reach beyond open and close by a
half-normal multiple of the current volatility. Volume is lognormal, higher when the
market is volatile, with rare spikes. Everything is rounded onto the instrument's
tick and lot grid and checked with :func:`sw.spec.klines.check_candle`.
"""

from __future__ import annotations

import numpy as np

from sw.spec.klines import Klines, check_candle, instrument, interval_ms

#: 2025-01-01 00:00 UTC, rounded down to the interval grid when used.
DEFAULT_START_MS = 1_735_689_600_000

# Per-candle volatility and volume are for a 5-minute candle; other intervals scale by
# sqrt(time) for volatility and by time for volume.
VOLATILITY_5M = 0.0015
VOLUME_5M = 250.0          # in units of the symbol's base asset (BTC for BTCUSDT)
GARCH_ALPHA, GARCH_BETA = 0.08, 0.90
SHOCK_DOF = 4              # Student-t degrees of freedom: fat tails
SPIKE_PROBABILITY, SPIKE_SCALE = 0.01, 6.0


def synthetic_klines(count: int, seed: int = 0, symbol: str = "BTCUSDT",
                     category: str = "linear", interval: str = "5",
                     start_ms: int | None = None, price: float = 83_000.0) -> Klines:
    """``count`` synthetic candles, oldest first, identical for identical arguments."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    inst = instrument(category, symbol)
    step = interval_ms(interval)
    start = DEFAULT_START_MS if start_ms is None else start_ms
    start -= start % step
    rng = np.random.default_rng(seed)
    scale = step / 300_000
    shocks = rng.standard_t(SHOCK_DOF, count) / np.sqrt(SHOCK_DOF / (SHOCK_DOF - 2))
    sigma = _garch_volatility(shocks, VOLATILITY_5M * np.sqrt(scale))
    log_close = np.log(price) + np.cumsum(sigma * shocks)
    tick = float(inst.tick)
    close = np.maximum(np.rint(np.exp(log_close) / tick), 1).astype(np.int64)
    open_ = np.concatenate([[max(int(round(price / tick)), 1)], close[:-1]])
    wick_up = np.abs(rng.standard_normal(count)) * sigma * 0.4
    wick_down = np.abs(rng.standard_normal(count)) * sigma * 0.4
    high = np.maximum(np.rint(np.maximum(open_, close) * np.exp(wick_up)).astype(np.int64),
                      np.maximum(open_, close))
    low = np.clip(np.rint(np.minimum(open_, close) * np.exp(-wick_down)).astype(np.int64),
                  1, np.minimum(open_, close))

    calm = sigma / (VOLATILITY_5M * np.sqrt(scale))
    spikes = np.where(rng.random(count) < SPIKE_PROBABILITY, SPIKE_SCALE, 1.0)
    amount = VOLUME_5M * scale * calm ** 1.5 * spikes * rng.lognormal(0.0, 0.5, count)
    volume = np.maximum(np.rint(amount / float(inst.lot)), 1).astype(np.int64)

    starts = start + step * np.arange(count, dtype=np.int64)
    klines = Klines(inst, interval, starts, open_, high, low, close, volume, synthetic=True,
                    source=f"synthetic(seed={seed})")
    for n, row in enumerate(klines.rows()):
        check_candle(f"synthetic candle {n}", int(starts[n]), step, *row)
    return klines


def _garch_volatility(shocks: np.ndarray, long_run: float) -> np.ndarray:
    """Per-candle volatility of a GARCH(1, 1) process driven by unit-variance ``shocks``,
    with long-run level ``long_run``."""
    omega = long_run ** 2 * (1 - GARCH_ALPHA - GARCH_BETA)
    variance = np.empty(len(shocks))
    current = long_run ** 2
    for n, shock in enumerate(shocks):
        variance[n] = current
        current = omega + GARCH_ALPHA * current * shock ** 2 + GARCH_BETA * current
    return np.sqrt(variance)
