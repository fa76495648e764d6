"""Features of a kline: a float reference and the integer specification the hardware mirrors.

Every feature is a ratio ``num / den`` of integers taken from the current kline and the
ones before it (prices in ticks, volume in lots):

=============  =================================  ===================================
name           numerator                          denominator
=============  =================================  ===================================
``body``       ``close - open``                   ``close[t-1]``
``range``      ``high - low``                     ``close[t-1]``
``upper_wick`` ``high - max(open, close)``        ``close[t-1]``
``lower_wick`` ``min(open, close) - low``         ``close[t-1]``
``ret_4``      ``close - close[t-4]``             ``close[t-4]``
``ret_16``     ``close - close[t-16]``            ``close[t-16]``
``volume``     ``W * volume - S``                 ``S = volume[t-2] + ... + volume[t-1-W]``
=============  =================================  ===================================

Every denominator is known before the kline arrives: the candle features divide by the
previous close (on Bybit's klines the open of a kline is the close before it), and the
volume window ends one kline before the previous one (``volume`` compares the kline's
volume with the average of the ``W`` klines before the previous one). So a divider may
prepare its divisor from earlier klines alone, even for klines arriving back to back.

Normalisation: feature ``i`` has a calibrated power-of-two gain ``2**shift_i``; the model sees
``x = clip(ratio * 2**shift / 127, -1, 1)`` and its INT8 code is ``x * 127`` (scale 1/127,
zero-point 0).

Integer specification (:func:`features_int`), the rule the hardware implements bit for bit.
The denominator enters through its reciprocal, rounded to 9 significant bits, so that a
divider becomes a table, two shifts and a small product (:func:`reciprocal`):

* ``E = floor(log2(den))`` and ``M = floor(den * 2**(8 - E))``, the top 9 bits of ``den``
  (``256 <= M < 512``), so ``den = M * 2**(E - 8)`` up to the bits below them;
* ``r = RECIPROCALS[M - 256] = round(2**17 / M)`` (ties up; 257 to 512);
* ``u = floor(|num| * 2**(shift + 5 - E))``: ``|num|`` scaled to ``den``'s magnitude;
* ``m = floor(u * r / 2**13)``, about ``|num| * 2**(shift + 1) / den``; ``u >= 2**14``
  means ``m >= 514`` and saturates whatever ``r`` is;
* ``q = sign(num) * min((m + 1) >> 1, 127)``: round to nearest, ties away from zero, then
  saturate symmetrically to [-127, 127] (extreme moves saturate, never wrap);
* warm-up: a feature whose history is not yet there (the candle features for the first
  kline after reset, ``ret_4`` for the first 4 klines, ``ret_16`` for 16, ``volume`` for
  ``W + 1``) is 0; ``warm`` is true from kline ``warmup_klines`` on;
* zero volume: ``S == 0`` makes ``volume`` 0 (no average to compare with); a zero volume
  with ``S > 0`` is an ordinary ratio of -1.

The truncated mantissa makes ``r`` up to ``2**-8`` larger than ``2**(E + 9) / den`` would
be, and its rounding adds at most ``2**-9``: a code differs from an exact division's by
one at most, and only near a rounding edge.

History is counted in klines received, not in time: a gap in the data is not seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sw.spec.klines import FIELDS, Klines

FEATURES = ("body", "range", "upper_wick", "lower_wick", "ret_4", "ret_16", "volume")
FEATURE_LIMIT = 127
MAX_SHIFT = 20
#: Lags of the return features; the volume window comes from the spec.
LAGS = {"ret_4": 4, "ret_16": 16}
#: Features of the kline's own prices, divided by the previous close.
CANDLE = ("body", "range", "upper_wick", "lower_wick")
#: The denominator's significant bits that select its reciprocal.
MANTISSA_BITS = 9
#: ``RECIPROCALS[M - 256] = round(2**17 / M)`` for the mantissas ``M`` of 9 bits.
RECIPROCALS = np.array([((1 << 18) + k) // (2 * k) for k in range(256, 512)], np.int64)
#: ``u = (|num| << (shift + WINDOW_SHIFT)) >> E`` below ``WINDOW_LIMIT``, ``m = u r >> PRODUCT_SHIFT``.
WINDOW_SHIFT = 5
WINDOW_LIMIT = 1 << 14
PRODUCT_SHIFT = 13


@dataclass(frozen=True)
class FeatureSpec:
    """Which features, in which order, with their power-of-two gains, and the volume window."""
    names: tuple = FEATURES
    shifts: tuple = (14,) * 6 + (4,)
    volume_window: int = 16

    def __post_init__(self):
        unknown = [n for n in self.names if n not in FEATURES]
        if unknown or not self.names:
            raise ValueError(f"features: unknown {unknown}; choose from {', '.join(FEATURES)}")
        if len(set(self.names)) != len(self.names):
            raise ValueError("features: a feature is named twice")
        if len(self.shifts) != len(self.names):
            raise ValueError(f"features.shifts: {len(self.shifts)} shifts for "
                             f"{len(self.names)} features")
        for name, shift in zip(self.names, self.shifts):
            if not (isinstance(shift, int) and 0 <= shift <= MAX_SHIFT):
                raise ValueError(f"features.shifts: {name} has shift {shift!r}, "
                                 f"expected an integer in [0, {MAX_SHIFT}]")
        w = self.volume_window
        if not (isinstance(w, int) and 2 <= w <= 256 and w & (w - 1) == 0):
            raise ValueError(f"features.volume_window: {w!r} is not a power of two in [2, 256]")

    @property
    def history(self) -> dict:
        """Klines of history each feature needs: 1 for the candle features (the previous
        close), the lag for the returns, ``W + 1`` for ``volume``."""
        need = dict(LAGS, volume=self.volume_window + 1)
        return {name: need.get(name, 1) for name in self.names}

    @property
    def warmup_klines(self) -> int:
        return max(self.history.values())

    def to_json(self) -> dict:
        return {"names": list(self.names), "shifts": list(self.shifts),
                "volume_window": self.volume_window}

    @classmethod
    def from_json(cls, data: dict) -> "FeatureSpec":
        return cls(tuple(data["names"]), tuple(data["shifts"]), data["volume_window"])


def ratios(klines: Klines, spec: FeatureSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer ``(num, den, ready)`` arrays of shape ``[n, features]``.

    ``ready`` is false where the feature is defined as 0 (warm-up, zero volume window);
    ``den`` is 1 there so that callers can divide without a special case.
    """
    o, h, l, c, v = (getattr(klines, f).astype(np.int64) for f in FIELDS)
    n = len(o)
    index = np.arange(n)

    def past(values, lag):
        """``values[t - lag]`` (0 where ``t < lag``)."""
        return np.concatenate([np.zeros(min(lag, n), np.int64), values[:max(n - lag, 0)]])

    candle = {"body": c - o, "range": h - l, "upper_wick": h - np.maximum(o, c),
              "lower_wick": np.minimum(o, c) - l}
    nums, dens, readies = [], [], []
    for name in spec.names:
        ready = index >= spec.history[name]
        if name in CANDLE:
            num, den = candle[name], past(c, 1)
        elif name in LAGS:
            den = past(c, LAGS[name])
            num = c - den
        else:
            w = spec.volume_window
            csum = np.concatenate([[0], np.cumsum(v)])
            # S = v[t-2] + ... + v[t-1-W]
            den = csum[np.maximum(index - 1, 0)] - csum[np.maximum(index - 1 - w, 0)]
            num = w * v - den
            ready &= den > 0
        nums.append(np.where(ready, num, 0))
        dens.append(np.where(ready, den, 1))
        readies.append(ready)
    return tuple(np.stack(a, axis=1) for a in (nums, dens, readies))


def reciprocal(den: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(E, r)`` of each denominator (``den >= 1``, below ``2**53``): ``E = floor(log2(den))``
    and ``r = RECIPROCALS[M - 256]`` for its top 9 bits ``M = (den << 8) >> E``."""
    exponent = np.frexp(np.asarray(den, np.float64))[1].astype(np.int64) - 1
    return exponent, RECIPROCALS[((den << (MANTISSA_BITS - 1)) >> exponent) - 256]


def features_int(klines: Klines, spec: FeatureSpec) -> np.ndarray:
    """The integer specification: ``[n, features]`` int8 codes (see the module docstring)."""
    num, den, _ = ratios(klines, spec)
    return codes(num, den, np.array(spec.shifts, dtype=np.int64))


def codes(num, den, shift) -> np.ndarray:
    """The codes of ratios ``num / den`` (integer arrays, ``den >= 1``, broadcast with
    ``shift``) by the module docstring's rule, as int8."""
    num, den = np.asarray(num, np.int64), np.asarray(den, np.int64)
    exponent, r = reciprocal(den)
    # u = (|num| << (shift + 5)) >> E without leaving int64: a left shift saturates u from
    # |num| >= 2**14 on, so |num| is clamped there first
    up = shift + WINDOW_SHIFT - exponent
    magnitude = np.abs(num)
    u = np.where(up >= 0, np.minimum(magnitude, WINDOW_LIMIT) << np.maximum(up, 0),
                 magnitude >> np.maximum(-up, 0))
    m = np.where(u < WINDOW_LIMIT, (u * r) >> PRODUCT_SHIFT, 255)
    magnitude = np.minimum((m + 1) >> 1, FEATURE_LIMIT)
    return (np.sign(num) * magnitude).astype(np.int8)


def features_float(klines: Klines, spec: FeatureSpec) -> np.ndarray:
    """Float reference: normalised features in [-1, 1], ``[n, features]`` float64."""
    num, den, _ = ratios(klines, spec)
    gain = 2.0 ** np.array(spec.shifts) / FEATURE_LIMIT
    return np.clip(num / den * gain, -1.0, 1.0)


def warm(klines: Klines, spec: FeatureSpec) -> np.ndarray:
    """True for the klines whose every feature has its full history."""
    return np.arange(len(klines)) >= spec.warmup_klines


def calibrate(klines: Klines, names=FEATURES, volume_window: int = 16,
              percentile: float = 99.5) -> FeatureSpec:
    """Pick each feature's shift: the largest gain that keeps the ``percentile``-th
    percentile of ``|ratio|`` (over warm, defined klines) inside [-1, 1]."""
    probe = FeatureSpec(tuple(names), (0,) * len(names), volume_window)
    num, den, ready = ratios(klines, probe)
    shifts = []
    for i, name in enumerate(names):
        values = np.abs(num[ready[:, i], i] / den[ready[:, i], i])
        level = np.percentile(values, percentile) if len(values) else 0.0
        if level <= 0:
            shifts.append(MAX_SHIFT)
            continue
        shift = int(np.floor(np.log2(FEATURE_LIMIT / level)))
        shifts.append(min(max(shift, 0), MAX_SHIFT))
    return FeatureSpec(tuple(names), tuple(shifts), volume_window)
