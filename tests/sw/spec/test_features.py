"""The integer feature spec against the float reference and its edge rules."""

import numpy as np
import pytest

from sw.spec.features import (
    FEATURES,
    MANTISSA_BITS,
    MAX_SHIFT,
    PRODUCT_SHIFT,
    RECIPROCALS,
    WINDOW_LIMIT,
    WINDOW_SHIFT,
    FeatureSpec,
    codes,
    features_float,
    features_int,
    warm,
)
from sw.spec.klines import INSTRUMENTS, WORD_BITS, Klines

BTC = INSTRUMENTS[("linear", "BTCUSDT")]


def make_klines(open_, high, low, close, volume) -> Klines:
    arrays = [np.asarray(a, dtype=np.int64) for a in (open_, high, low, close, volume)]
    n = len(arrays[0])
    return Klines(BTC, "5", np.arange(n, dtype=np.int64) * 300_000, *arrays, synthetic=True)


def flat_klines(n=40, price=1_000_000, volume=1000) -> Klines:
    return make_klines(*([np.full(n, price)] * 4), np.full(n, volume))


def test_integer_spec_within_one_code_of_float_reference(klines_5m):
    spec = FeatureSpec(shifts=(14, 13, 15, 15, 13, 12, 4))
    codes = features_int(klines_5m, spec).astype(float)
    reference = features_float(klines_5m, spec) * 127
    assert np.max(np.abs(codes - reference)) <= 1.0
    # the reciprocal of the denominator's top 9 bits moves a code by one near its edges
    assert np.mean(codes == np.round(reference)) > 0.975


def test_warm_up_features_are_zero():
    rng = np.random.default_rng(0)
    close = 1_000_000 + rng.integers(-5000, 5000, 40)
    klines = make_klines(close, close + 6000, close - 6000, close[::-1], rng.integers(1, 99, 40))
    spec = FeatureSpec()
    codes = features_int(klines, spec)
    for name, need in spec.history.items():
        column = codes[:, spec.names.index(name)]
        assert np.all(column[:need] == 0), name
        assert np.any(column[need:] != 0), name
    assert spec.history["body"] == 1 and spec.history["volume"] == spec.volume_window + 1
    assert list(warm(klines, spec)) == [i >= spec.volume_window + 1 for i in range(40)]


def test_zero_volume_window_gives_zero():
    klines = flat_klines(volume=0)
    volume = features_int(klines, FeatureSpec())[:, FEATURES.index("volume")]
    assert np.all(volume == 0)


@pytest.mark.parametrize("shift", [4, 8])
def test_zero_volume_after_traded_window_is_ratio_minus_one(shift):
    volume = np.full(40, 1000)
    volume[30] = 0
    spec = FeatureSpec(shifts=(14,) * 6 + (shift,))
    codes = features_int(make_klines(*([np.full(40, 10**6)] * 4), volume), spec)
    assert codes[30, FEATURES.index("volume")] == -min(2 ** shift, 127)   # saturates from 2**7


def test_extreme_moves_saturate_at_127():
    n = 20
    open_ = np.full(n, 1_000_000)
    close = open_.copy()
    close[10], close[11] = 3_000_000, 200_000
    high, low = np.maximum(open_, close), np.minimum(open_, close)
    codes = features_int(make_klines(open_, high, low, close, np.full(n, 5)), FeatureSpec())
    body = FEATURES.index("body")
    assert codes[10, body] == 127 and codes[11, body] == -127
    assert codes.min() >= -127 and codes.max() <= 127


def reference_code(num: int, den: int, shift: int) -> int:
    """The spec in Python integers (no width limit)."""
    top = den.bit_length() - 1
    r = int(RECIPROCALS[((den << (MANTISSA_BITS - 1)) >> top) - 256])
    u = (abs(num) << (shift + WINDOW_SHIFT)) >> top
    m = (u * r) >> PRODUCT_SHIFT if u < WINDOW_LIMIT else 255
    return (1 if num > 0 else -1 if num < 0 else 0) * min((m + 1) >> 1, 127)


def test_32_bit_prices_and_volumes_do_not_overflow():
    top = 2 ** WORD_BITS - 1
    n = 300
    rng = np.random.default_rng(1)
    open_ = rng.integers(top - 1000, top + 1, n)
    close = np.where(rng.random(n) < 0.5, 1, top)
    high, low = np.full(n, top), np.ones(n, dtype=np.int64)
    volume = np.where(rng.random(n) < 0.5, 0, top)
    klines = make_klines(open_, high, low, close, volume)
    spec = FeatureSpec(shifts=(20,) * 7, volume_window=256)
    codes = features_int(klines, spec)
    t = n - 1
    past = int(close[t - 16])
    assert codes[t, FEATURES.index("ret_16")] == reference_code(int(close[t]) - past, past, 20)
    window = int(volume[t - 257:t - 1].sum())
    assert codes[t, FEATURES.index("volume")] == reference_code(256 * int(volume[t]) - window,
                                                                window, 20)
    assert codes[t, FEATURES.index("range")] == reference_code(top - 1, int(close[t - 1]), 20)


def test_denominators_come_from_earlier_klines():
    """Candle features divide by the previous close, not the open; ``volume`` compares with
    the window ending one kline before the previous one. Changing the kline's own open
    or the previous volume changes no denominator."""
    rng = np.random.default_rng(2)
    n, w = 40, 4
    close = 1_000_000 + rng.integers(-9000, 9000, n)
    open_ = close + rng.integers(-3000, 3000, n)
    high = np.maximum(open_, close) + rng.integers(0, 4000, n)
    low = np.minimum(open_, close) - rng.integers(0, 4000, n)
    volume = rng.integers(1, 10_000, n)
    klines = make_klines(open_, high, low, close, volume)
    spec = FeatureSpec(shifts=(14,) * 6 + (6,), volume_window=w)
    codes = features_int(klines, spec)
    for t in range(w + 1, n):
        assert codes[t, FEATURES.index("body")] == reference_code(
            int(close[t] - open_[t]), int(close[t - 1]), 14)
        assert codes[t, FEATURES.index("upper_wick")] == reference_code(
            int(high[t] - max(open_[t], close[t])), int(close[t - 1]), 14)
        window = int(volume[t - 1 - w:t - 1].sum())
        assert codes[t, FEATURES.index("volume")] == reference_code(
            int(w * volume[t]) - window, window, 6)
    assert np.all(codes[0, :4] == 0) and np.any(codes[1, :4] != 0)


def test_reciprocal_codes_within_one_of_exact_division():
    """The reciprocal rule against exact division in Python integers, near every code, for
    denominators of every magnitude up to 36 bits and every shift."""
    rng = np.random.default_rng(5)
    n = 200_000
    den = np.maximum(rng.integers(1, 2 ** 36, n) >> rng.integers(0, 36, n), 1)
    shift = rng.integers(0, MAX_SHIFT + 1, n)
    num = (rng.uniform(0, 300, n) * den / 2.0 ** (shift + 1)).astype(np.int64)
    num *= rng.choice([-1, 1], n)
    exact = [reference_exact(int(a), int(b), int(s)) for a, b, s in zip(num, den, shift)]
    difference = np.abs(codes(num, den, shift).astype(np.int64) - np.array(exact))
    assert difference.max() == 1      # near its edges a code moves, by one at most
    assert 0.01 < np.mean(difference) < 0.1


def reference_exact(num: int, den: int, shift: int) -> int:
    """The exact-division code ``sign * min((floor(|num| 2**(shift + 1) / den) + 1) >> 1, 127)``."""
    m = (abs(num) << (shift + 1)) // den
    return (1 if num > 0 else -1 if num < 0 else 0) * min((m + 1) >> 1, 127)
