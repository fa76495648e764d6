"""Synthetic klines: deterministic, valid on the instrument grid, and marked synthetic."""

import numpy as np
import pytest

from sw.data.synthetic import synthetic_klines
from sw.spec.klines import interval_ms


def test_same_seed_same_series_other_seed_other_series():
    first, again, other = (synthetic_klines(500, seed=s) for s in (7, 7, 8))
    assert np.array_equal(first.matrix(), again.matrix())
    assert np.array_equal(first.start_ms, again.start_ms)
    assert not np.array_equal(first.matrix(), other.matrix())


@pytest.mark.parametrize("interval", ["1", "5", "60", "D"])
def test_every_candle_is_valid_and_on_the_grid(interval):
    klines = synthetic_klines(3000, seed=1, interval=interval)
    assert klines.synthetic and "synthetic" in klines.source
    o, h, l, c, v = klines.matrix().T
    assert (l > 0).all() and (v > 0).all()
    assert ((l <= o) & (l <= c) & (o <= h) & (c <= h)).all()
    assert (h < 2 ** 32).all()
    step = interval_ms(interval)
    assert (klines.start_ms % step == 0).all()
    assert (np.diff(klines.start_ms) == step).all() and klines.gaps == []
    assert (o[1:] == c[:-1]).all()


def test_looks_like_market_data():
    klines = synthetic_klines(20_000, seed=3)
    returns = np.diff(np.log(klines.close.astype(float)))
    assert 0.0005 < returns.std() < 0.005
    # fat tails and volatility clustering: |returns| are autocorrelated, unlike noise
    kurtosis = ((returns - returns.mean()) ** 4).mean() / returns.var() ** 2
    assert kurtosis > 4
    size = np.abs(returns) - np.abs(returns).mean()
    assert (size[1:] * size[:-1]).mean() / size.var() > 0.05
    assert klines.volume.max() > 5 * np.median(klines.volume)


def test_rejects_empty_series():
    with pytest.raises(ValueError, match="count"):
        synthetic_klines(0)
