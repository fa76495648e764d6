"""Integer-only inference: THE specification the hardware matches bit for bit.

No float anywhere on this path: klines (ticks, lots) -> :func:`sw.spec.features.features_int`
-> dense layers -> argmax, all in int64 NumPy arithmetic that never leaves the ranges
the hardware words hold.

Dense layer, per output channel ``j`` (:func:`dense`)::

    acc_j = bias_j + sum_i W_ji * x_i                      # INT32; zero-point folded in bias
    y_j   = zp + ((acc_j * multiplier_j + 2**(shift_j - 1)) >> shift_j)
    y_j   = clamp(y_j, zp if relu else -128, 127)

``>>`` is an arithmetic shift, so the rounding is to nearest with ties towards +infinity
(the TFLite/gemmlowp recipe rounds ties away from zero; one adder cheaper in hardware).
Binary weights are +-1, so their products are additions and subtractions (the XNOR/popcount
form applies when activations are binary too, see :mod:`sw.learn.quant`).

Signal (:func:`argmax`): the index of the largest final output, the lowest index on a tie.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sw.spec.artifact import INT32, QuantizedLayer, QuantizedModel
from sw.spec.features import features_int, warm
from sw.spec.klines import Klines


class AccumulatorOverflow(ArithmeticError):
    """An accumulator left INT32: the model's integers are out of the hardware's range."""


def accumulate(layer: QuantizedLayer, x: np.ndarray) -> np.ndarray:
    """INT32 accumulators ``[n, outputs]`` of ``bias + W @ x`` for INT8 inputs ``[n, inputs]``."""
    acc = x.astype(np.int64) @ layer.weights.T.astype(np.int64) + layer.bias
    if acc.size and (acc.min() < INT32[0] or acc.max() > INT32[1]):
        raise AccumulatorOverflow(f"accumulator range [{acc.min()}, {acc.max()}] leaves INT32")
    return acc


def requantize(layer: QuantizedLayer, acc: np.ndarray) -> np.ndarray:
    """INT32 accumulators -> INT8 outputs by multiplier, rounding right shift and clamp."""
    shift = layer.shift.astype(np.int64)
    scaled = (acc * layer.multiplier + (np.int64(1) << (shift - 1))) >> shift
    return np.clip(layer.output_zero_point + scaled, layer.output_min, 127).astype(np.int8)


def dense(layer: QuantizedLayer, x: np.ndarray) -> np.ndarray:
    return requantize(layer, accumulate(layer, x))


def argmax(outputs: np.ndarray) -> np.ndarray:
    """First index of the maximum, per row."""
    return np.argmax(outputs, axis=-1).astype(np.int64)


def infer(model: QuantizedModel, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """INT8 feature codes ``[n, features]`` -> (signal ``[n]``, raw final outputs ``[n, classes]``)."""
    for layer in model.layers:
        x = dense(layer, x)
    return argmax(x), x


@dataclass
class Outputs:
    """What the core emits per kline: ``signal``, the final layer's ``raw`` INT8 outputs,
    and ``warm`` (every feature had its full history)."""
    signal: np.ndarray
    raw: np.ndarray
    warm: np.ndarray


def run(model: QuantizedModel, klines: Klines) -> Outputs:
    """The whole core, kline stream in, signals out, as the hardware computes it."""
    signal, raw = infer(model, features_int(klines, model.features))
    return Outputs(signal, raw, warm(klines, model.features))
