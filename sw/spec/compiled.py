"""The compiled software reference: the integer spec streamed one kline at a time (Numba).

The same arithmetic as :func:`sw.spec.golden.run`, bit for bit (signals, raw outputs and
warm flags), computed the way a trading host would: one kline in, one signal out, with
incremental state instead of a recomputation over history. The closes live in a ring
buffer (the candle features read ``close[t - 1]`` from it, the returns ``close[t - lag]``),
the volume window is a running sum (one add and one subtract per kline) kept with the
previous kline's sum, the window the volume feature divides by; the features, every dense layer with
its requantization and clamp, and the argmax are compiled with Numba ``@njit``. Nothing
is specialised to one artifact: any :class:`sw.spec.features.FeatureSpec` and any layer
sizes run through the same compiled code, which reads the model from :class:`Tables`.

Timing happens inside the compiled loop (``clock_gettime`` called from compiled code):

* :meth:`Reference.chain_ns`: a pass over the file in which every field of kline ``t``
  gets ``signal[t - 1] & zero`` added, ``zero`` a run-time argument (0). The results do
  not change, but the compiler cannot drop the dependency, so the CPU cannot start a
  kline before the previous one has its signal: ns per kline of the best pass (thread
  CPU time, :data:`PASS_CLOCK`) is the kline-to-signal latency of a busy loop.
  ``dependent=False`` runs the same loop without that link (klines may overlap); the
  dependent loop is no faster than that one when the dependency survives compilation.
* :meth:`Reference.kline_times_ns`: every kline timed alone on the wall clock
  (:data:`KLINE_CLOCK`, the one ``time.perf_counter_ns`` reads: clock read, kline, clock
  read; the kline's input depends on the previous signal and on the first read), minus
  the median time between two clock reads with nothing between them: the per-kline
  distribution, of the pass (of several) with the lowest median.

Latency: one kline per iteration of the compiled loop, the same as the C loop of
:mod:`sim.software_bench`, which measures both; throughput one kline per latency.
"""

from __future__ import annotations

import ctypes
import time
from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from sw.spec.artifact import INT32, QuantizedModel
from sw.spec.features import (
    FEATURE_LIMIT,
    MANTISSA_BITS,
    PRODUCT_SHIFT,
    RECIPROCALS,
    WINDOW_LIMIT,
    WINDOW_SHIFT,
    FeatureSpec,
)
from sw.spec.golden import AccumulatorOverflow, Outputs
from sw.spec.klines import Klines

#: How each feature is computed (column 0 of :attr:`Tables.features`).
KINDS = {"body": 0, "range": 1, "upper_wick": 2, "lower_wick": 3, "ret_4": 4, "ret_16": 4,
         "volume": 5}
BODY, RANGE, UPPER_WICK, LOWER_WICK, RETURN, VOLUME = range(6)
INT32_MIN, INT32_MAX = INT32
#: Each kline is timed on the wall clock; a whole pass on the thread's CPU time, which a
#: busy shared machine does not inflate (on an idle one the two agree).
KLINE_CLOCK, PASS_CLOCK = time.CLOCK_MONOTONIC, time.CLOCK_THREAD_CPUTIME_ID


class Tables(NamedTuple):
    """A model as int64 arrays: what the compiled loop (and the C loop of
    :mod:`sim.software_bench`, field for field) reads.

    ``features[f]`` is (kind from :data:`KINDS`, shift, klines of history it needs: the
    lag of the close it divides by, ``W + 1`` for ``volume``);
    ``layers[k]`` (inputs, outputs, output zero-point, lowest output code);
    ``weights[k, j, i]`` the weight from input ``i`` to output ``j`` of layer ``k`` and
    ``channels[k, j]`` that output's (bias, multiplier, requantization shift), zero-padded
    to the widest layer. The closes' ring buffer has ``ring_mask + 1`` entries, a power of
    two above the longest lag of a close.
    """
    volume_window: int
    warmup: int
    ring_mask: int
    features: np.ndarray
    layers: np.ndarray
    weights: np.ndarray
    channels: np.ndarray


class State(NamedTuple):
    """What the stream remembers: ``counters`` = (klines seen, sum of the last
    ``volume_window`` volumes, that sum one kline earlier), ring buffers of closes and
    volumes, and the activations of the kline in flight: ``act[0]`` the feature codes,
    ``act[k + 1]`` layer ``k``'s outputs."""
    counters: np.ndarray
    closes: np.ndarray
    volumes: np.ndarray
    act: np.ndarray


def tables(model: QuantizedModel) -> Tables:
    spec, layers = model.features, model.layers
    ring = 2
    while ring <= max(close_lags(spec), default=0):
        ring *= 2
    width = max(len(spec.names), *(layer.outputs for layer in layers))
    weights = np.zeros((len(layers), width, width), np.int64)
    channels = np.zeros((len(layers), width, 3), np.int64)
    for k, layer in enumerate(layers):
        weights[k, :layer.outputs, :layer.inputs] = layer.weights
        channels[k, :layer.outputs] = np.stack([layer.bias, layer.multiplier, layer.shift], 1)
    return Tables(
        spec.volume_window, spec.warmup_klines, ring - 1,
        np.array([(KINDS[n], shift, spec.history[n]) for n, shift in
                  zip(spec.names, spec.shifts)], np.int64),
        np.array([(l.inputs, l.outputs, l.output_zero_point, l.output_min) for l in layers],
                 np.int64),
        weights, channels)


def close_lags(spec: FeatureSpec) -> list:
    """How far back each feature but ``volume`` reads the close it divides by."""
    return [need for name, need in spec.history.items() if name != "volume"]


def new_state(t: Tables) -> State:
    return State(np.zeros(3, np.int64), np.zeros(t.ring_mask + 1, np.int64),
                 np.zeros(t.volume_window, np.int64),
                 np.zeros((len(t.layers) + 1, t.weights.shape[1]), np.int64))


_clock_gettime = ctypes.CDLL(None).clock_gettime
_clock_gettime.argtypes = [ctypes.c_int, ctypes.c_void_p]
_clock_gettime.restype = ctypes.c_int


@njit
def now_ns(clock, timespec):
    """``clock_gettime(clock)`` in ns, from compiled code (``timespec``: int64[2] scratch)."""
    _clock_gettime(clock, timespec.ctypes)
    return timespec[0] * 1_000_000_000 + timespec[1]


@intrinsic
def leading_zeros(typingctx, value):
    """Count of leading zero bits of an int64 (LLVM's ctlz: one instruction on x86-64)."""
    def codegen(context, builder, signature, args):
        return builder.ctlz(args[0], ir.Constant(ir.IntType(1), 0))
    return types.int64(types.int64), codegen


@njit(error_model="numpy")
def code(num, den, shift):
    """The code of ``num / den`` by :func:`sw.spec.features.codes`' rule for one ratio:
    the top bit of ``den`` is one instruction (``ctlz``), its reciprocal a table read."""
    top = 63 - leading_zeros(np.int64(den))
    r = RECIPROCALS[((den << (MANTISSA_BITS - 1)) >> top) - 256]
    up = shift + WINDOW_SHIFT - top
    # a left shift saturates u from |num| >= 2**14 on: clamped first, it cannot overflow
    u = min(abs(num), WINDOW_LIMIT) << up if up >= 0 else abs(num) >> -up
    quotient = (u * r) >> PRODUCT_SHIFT if u < WINDOW_LIMIT else 255
    magnitude = min((quotient + 1) >> 1, FEATURE_LIMIT)
    return -magnitude if num < 0 else magnitude


# One function holds the whole kline: in Numba a call that passes arrays costs a
# reference count per array and kline, more than the features themselves.
@njit(error_model="numpy")
def stream(volume_window, warmup, ring_mask, features, layers, weights, channels,
           counters, closes, volumes, act, klines, zero, dependent, times, pass_clock,
           timespec, signals, raw, warms):
    """Every kline of ``klines`` ([n, 5] open, high, low, close, volume) through the
    spec into ``signals``, ``raw`` and ``warms``; returns the loop's ns on ``pass_clock``.
    With ``dependent``, each kline's fields get ``(previous signal | clock) & zero``
    added; with ``times`` non-empty, each kline's :data:`KLINE_CLOCK` ns go there (clock
    reads included)."""
    each = times.size > 0
    last = layers.shape[0]
    signal = 0
    begin = now_ns(pass_clock, timespec)
    for n in range(klines.shape[0]):
        start = now_ns(KLINE_CLOCK, timespec) if each else 0
        link = (signal | start) & zero if dependent else 0
        o, h, l = klines[n, 0] + link, klines[n, 1] + link, klines[n, 2] + link
        c, v = klines[n, 3] + link, klines[n, 4] + link
        seen, volume_sum, previous_sum = counters[0], counters[1], counters[2]
        for f in range(features.shape[0]):
            kind, shift, need, q = features[f, 0], features[f, 1], features[f, 2], 0
            if seen >= need:
                if kind == VOLUME:
                    if previous_sum > 0:
                        q = code(volume_window * v - previous_sum, previous_sum, shift)
                else:
                    past = closes[(seen - need) & ring_mask]
                    if kind == RETURN:
                        q = code(c - past, past, shift)
                    elif kind == BODY:
                        q = code(c - o, past, shift)
                    elif kind == RANGE:
                        q = code(h - l, past, shift)
                    elif kind == UPPER_WICK:
                        q = code(h - max(o, c), past, shift)
                    else:
                        q = code(min(o, c) - l, past, shift)
            act[0, f] = q
        slot = seen & (volume_window - 1)
        counters[2] = volume_sum
        counters[1] = volume_sum + v - volumes[slot]
        volumes[slot] = v
        closes[seen & ring_mask] = c
        counters[0] = seen + 1
        for k in range(last):
            for j in range(layers[k, 1]):
                # four products a step: faster than the vectorized loop LLVM makes of
                # one product a step, for rows this short
                acc, i, n_in = channels[k, j, 0], 0, layers[k, 0]
                while i + 4 <= n_in:
                    acc += (weights[k, j, i] * act[k, i] + weights[k, j, i + 1] * act[k, i + 1]
                            + weights[k, j, i + 2] * act[k, i + 2]
                            + weights[k, j, i + 3] * act[k, i + 3])
                    i += 4
                while i < n_in:
                    acc += weights[k, j, i] * act[k, i]
                    i += 1
                if acc < INT32_MIN or acc > INT32_MAX:
                    raise AccumulatorOverflow("accumulator leaves INT32")
                shift = channels[k, j, 2]
                y = layers[k, 2] + ((acc * channels[k, j, 1] + (1 << (shift - 1))) >> shift)
                act[k + 1, j] = min(max(y, layers[k, 3]), 127)
        signal = 0
        for j in range(1, layers[last - 1, 1]):
            if act[last, j] > act[last, signal]:
                signal = j
        signals[n] = signal
        warms[n] = seen >= warmup
        for j in range(layers[last - 1, 1]):
            raw[n, j] = act[last, j]
        if each:
            times[n] = now_ns(KLINE_CLOCK, timespec) - start
    return now_ns(pass_clock, timespec) - begin


@njit
def empty_pairs(times, timespec):
    for n in range(times.size):
        start = now_ns(KLINE_CLOCK, timespec)
        times[n] = now_ns(KLINE_CLOCK, timespec) - start


class Reference:
    """The compiled reference for one model: :meth:`run` a kline series from a fresh
    state, or time it (:meth:`chain_ns`, :meth:`kline_times_ns`). The first call compiles
    (seconds); :attr:`outputs` holds the last pass's outputs."""

    def __init__(self, model: QuantizedModel):
        self.tables = tables(model)
        self.state = new_state(self.tables)
        self.outputs = None
        self._timespec = np.zeros(2, np.int64)

    def stream(self, klines: np.ndarray, dependent: bool, times: np.ndarray | None,
               pass_clock: int) -> int:
        """:func:`stream` on the state and :attr:`outputs`; ``times`` None: untimed."""
        out = self.outputs
        return stream(*self.tables, *self.state, klines, 0, dependent,
                      np.zeros(0, np.int64) if times is None else times, pass_clock,
                      self._timespec, out.signal, out.raw, out.warm)

    def empty_pairs(self, times: np.ndarray) -> None:
        empty_pairs(times, self._timespec)

    def _pass(self, klines: Klines, dependent: bool, times=None) -> int:
        for array in self.state:
            array[:] = 0
        n, classes = len(klines), int(self.tables.layers[-1, 1])
        self.outputs = Outputs(np.zeros(n, np.int64), np.zeros((n, classes), np.int8),
                               np.zeros(n, np.bool_))
        matrix = np.ascontiguousarray(klines.matrix(), dtype=np.int64)
        return self.stream(matrix, dependent, times, PASS_CLOCK)

    def run(self, klines: Klines) -> Outputs:
        """Every kline from a fresh state: what :func:`sw.spec.golden.run` returns."""
        self._pass(klines, dependent=False)
        return self.outputs

    def chain_ns(self, klines: Klines, passes: int = 5, dependent: bool = True) -> float:
        """ns per kline of the best of ``passes`` passes (after one uncounted pass)."""
        elapsed = [self._pass(klines, dependent) for _ in range(passes + 1)]
        return min(elapsed[1:]) / len(klines)

    def timer_overhead_ns(self, pairs: int = 100_000) -> float:
        """Median ns between two clock reads with nothing between them."""
        times = np.zeros(pairs, np.int64)
        self.empty_pairs(times)
        return float(np.median(times))

    def kline_times_ns(self, klines: Klines, passes: int = 7) -> np.ndarray:
        """Each kline's ns, timer overhead subtracted: of ``passes`` timed passes (after
        an untimed one), the one with the lowest median, as a busy machine slows some."""
        self._pass(klines, dependent=True)
        best = None
        for _ in range(passes):
            times = np.zeros(len(klines), np.int64)
            self._pass(klines, dependent=True, times=times)
            if best is None or np.median(times) < np.median(best):
                best = times
        return best - self.timer_overhead_ns()


def run(model: QuantizedModel, klines: Klines) -> Outputs:
    """:func:`sw.spec.golden.run`, compiled and streamed."""
    return Reference(model).run(klines)
