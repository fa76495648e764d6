"""Quantization: the maths, post-training quantization, QAT, and export to integers.

Uniform affine quantization maps a real ``r`` to a ``bits``-bit code
``q = clamp(round(r / scale) + zero_point, qmin, qmax)`` and back to ``(q - zero_point) * scale``.
*Symmetric* quantization has ``zero_point = 0`` and the restricted range ``[-qmax, qmax]``;
*asymmetric* maps ``[lo, hi]`` (always containing 0, so that 0 is exact) onto the full
``[qmin, qmax]``. Ranges come from *calibration*: ``minmax`` takes the extremes of the
observed values, ``percentile`` the ``p``-th percentiles (clipping outliers to gain
resolution). Scales are *per-tensor* or *per-channel* (one per output row of a weight).

The project's scheme (:class:`Scheme`) is: INT8 input codes with scale 1/127 (the feature
spec), weights symmetric INT8/INT4 per channel or binary (``sign(w) * mean|w|`` per channel),
biases INT32 at scale ``s_in * s_w``, activations asymmetric INT8 per tensor, static (ranges
calibrated once) or dynamic (ranges of each batch, software only). :class:`FakeQuant` plugs
into :meth:`sw.learn.model.FloatMLP.forward` and simulates that arithmetic in float; its
backward is the straight-through estimator (gradient 1 inside the clipping range, 0
outside), which is quantization-aware training (:func:`qat`). :func:`to_integer_model`
turns the same numbers into the integer artifact that :mod:`sw.spec.golden` and the
hardware run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sw.learn.model import CLASSES, FloatMLP, fit, softmax
from sw.spec import packing
from sw.spec.artifact import (
    MAX_REQUANT_SHIFT,
    MULTIPLIER_BITS,
    QuantizedLayer,
    QuantizedModel,
)
from sw.spec.features import FEATURE_LIMIT, FeatureSpec

INPUT_SCALE = 1 / FEATURE_LIMIT


# ---- uniform affine quantization -------------------------------------------------------

def qrange(bits: int, symmetric: bool) -> tuple[int, int]:
    """Code range: ``[-(2**(b-1) - 1), 2**(b-1) - 1]`` symmetric, ``[-2**(b-1), 2**(b-1) - 1]`` not."""
    qmax = 2 ** (bits - 1) - 1
    return (-qmax if symmetric else -qmax - 1), qmax


#: How far below a tie (x.5) a float may lie and still round as the tie. A code computed
#: in float (scaled products summed) misses an exact tie by rounding error, far below
#: this; with power-of-two requantization multipliers exact ties are common, and the
#: integer model rounds each of them up.
TIE_TOLERANCE = 1e-9


def round_half_up(x: np.ndarray) -> np.ndarray:
    """Round to nearest, ties towards +infinity: what ``(v + 2**(s-1)) >> s`` does
    (within :data:`TIE_TOLERANCE` of a tie, as the tie)."""
    return np.floor(np.asarray(x, dtype=float) + 0.5 + TIE_TOLERANCE)


def calibrate_range(values: np.ndarray, method: str = "minmax", percentile: float = 99.99,
                    axis=None) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` of ``values`` (over ``axis``; per channel with ``axis=1`` on weights)."""
    values = np.asarray(values, dtype=float)
    if method == "minmax":
        return values.min(axis=axis), values.max(axis=axis)
    if method == "percentile":
        return (np.percentile(values, 100 - percentile, axis=axis),
                np.percentile(values, percentile, axis=axis))
    raise ValueError(f"calibration {method!r} is not minmax or percentile")


def affine_params(lo, hi, bits: int = 8, symmetric: bool = False):
    """``(scale, zero_point)`` mapping ``[lo, hi]`` onto the ``bits``-bit codes."""
    lo = np.minimum(np.asarray(lo, dtype=float), 0.0)
    hi = np.maximum(np.asarray(hi, dtype=float), 0.0)
    qmin, qmax = qrange(bits, symmetric)
    if symmetric:
        scale = np.maximum(np.maximum(-lo, hi), 1e-12) / qmax
        return scale, np.zeros_like(scale, dtype=np.int64)
    scale = np.maximum(hi - lo, 1e-12) / (qmax - qmin)
    zero_point = np.clip(np.round(qmin - lo / scale), qmin, qmax).astype(np.int64)
    return scale, zero_point


def quantize(x, scale, zero_point=0, bits: int = 8, symmetric: bool = False,
             qmin: int | None = None) -> np.ndarray:
    """Real values -> integer codes (round half up, then clamp to ``[qmin, qmax]``).

    ``qmin`` raises the low end of the code range (a fused ReLU clamps at the zero-point)."""
    low, qmax = qrange(bits, symmetric)
    qmin = low if qmin is None else qmin
    return np.clip(round_half_up(np.asarray(x) / scale) + zero_point, qmin, qmax).astype(np.int64)


def dequantize(q, scale, zero_point=0) -> np.ndarray:
    return (np.asarray(q, dtype=float) - zero_point) * scale


def fake_quant(x, scale, zero_point=0, bits: int = 8, symmetric: bool = False,
               qmin: int | None = None) -> np.ndarray:
    """``dequantize(quantize(x))``: ``x`` rounded onto the code grid, as a real value."""
    return dequantize(quantize(x, scale, zero_point, bits, symmetric, qmin), scale, zero_point)


def ste_mask(x, scale, zero_point=0, bits: int = 8, symmetric: bool = False,
             qmin: int | None = None) -> np.ndarray:
    """Straight-through estimator: d(fake_quant)/dx is 1 where ``x`` lies inside the
    clipping range ``[(qmin - zp) * scale, (qmax - zp) * scale]`` and 0 outside."""
    low, qmax = qrange(bits, symmetric)
    qmin = low if qmin is None else qmin
    code = np.asarray(x) / scale + zero_point
    return ((code >= qmin - 0.5) & (code <= qmax + 0.5)).astype(float)


def quantize_weights(w: np.ndarray, bits: int = 8, per_channel: bool = True,
                     unit: float | None = None):
    """``(codes, scale, zero_point)`` of a ``[outputs, inputs]`` weight matrix: symmetric
    (zero-point 0), scale ``max|w| / qmax`` per output row when ``per_channel``, else one
    for the tensor (repeated per row). ``bits=1`` is binary: codes ``sign(w)`` (``+1`` for
    0) and scale ``mean|w|`` (per channel or tensor).

    With a ``unit``, every scale is ``unit * 2**e`` for an integer ``e``
    (:func:`power_of_two_scales`): the smallest such scale that clips no weight, for
    binary the one nearest ``mean|w|``."""
    w = np.asarray(w, dtype=float)
    rows = w.shape[0]
    if bits == 1:
        alpha = np.abs(w).mean(axis=1) if per_channel else np.full(rows, np.abs(w).mean())
        alpha = np.maximum(alpha, 1e-12)
        if unit is not None:
            alpha = power_of_two_scales(alpha, unit, np.round)
        return np.where(w >= 0, 1, -1), alpha, np.zeros(rows, np.int64)
    lo, hi = calibrate_range(w, axis=1 if per_channel else None)
    scale, zero_point = affine_params(lo, hi, bits, symmetric=True)
    scale, zero_point = np.broadcast_to(scale, rows), np.broadcast_to(zero_point, rows)
    if unit is not None:
        scale = power_of_two_scales(scale, unit, np.ceil)
    codes = quantize(w, scale[:, None], zero_point[:, None], bits, symmetric=True)
    return codes, scale.copy(), zero_point.copy()


def power_of_two_scales(scale, unit: float, rounding=np.ceil) -> np.ndarray:
    """``unit * 2**e`` with ``e = rounding(log2(scale / unit))``: ``np.ceil`` gives the
    smallest such scale at least ``scale``, ``np.round`` the nearest in ratio.

    A layer's requantization multiplier is ``s_in * s_w / s_out``; weight scales that are
    ``s_out / s_in`` times a power of two make it a power of two, so that the hardware
    requantizes with a shift alone (:func:`multiplier_shift` gives ``2**14`` and a shift)."""
    return unit * 2.0 ** rounding(np.log2(np.asarray(scale, dtype=float) / unit))


# ---- binary dot products ---------------------------------------------------------------

def xnor_popcount_dot(a_bits: np.ndarray, b_bits: np.ndarray, length: int) -> int:
    """Dot product of two +-1 vectors of ``length`` stored as packed bits (1 = +1, LSB
    first, as :func:`sw.spec.packing.pack` with ``bits=1``): ``2 * popcount(XNOR(a, b)) - length``,
    counting only the ``length`` valid bits."""
    a = np.frombuffer(bytes(a_bits), dtype=np.uint8)
    b = np.frombuffer(bytes(b_bits), dtype=np.uint8)
    same = np.unpackbits(~(a ^ b), bitorder="little")[:length]
    return 2 * int(same.sum()) - length


# ---- metrics ---------------------------------------------------------------------------

def mse(reference, approximation) -> float:
    diff = np.asarray(reference, dtype=float) - np.asarray(approximation, dtype=float)
    return float(np.mean(diff ** 2))


def snr_db(reference, approximation) -> float:
    """``10 log10(sum r^2 / sum (r - a)^2)``; infinite for an exact approximation."""
    reference = np.asarray(reference, dtype=float)
    noise = np.sum((reference - np.asarray(approximation, dtype=float)) ** 2)
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(reference ** 2) / noise))


# ---- schemes and the fake-quant forward pass ---------------------------------------------

@dataclass(frozen=True)
class Scheme:
    """How a model is quantized. ``weight_bits`` 8, 4 or 1 (binary); activations INT8."""
    name: str = "int8-ptq-per-channel"
    weight_bits: int = 8
    per_channel: bool = True
    calibration: str = "minmax"        # activation ranges: minmax or percentile
    percentile: float = 99.99
    dynamic: bool = False              # activation ranges per batch (software only)
    qat: bool = False
    #: weight scales that make every requantization multiplier a power of two (a shift
    #: in hardware), see :func:`power_of_two_scales`
    power_of_two: bool = False

    def __post_init__(self):
        if self.weight_bits not in packing.WEIGHT_BITS:
            raise ValueError(f"weight_bits {self.weight_bits!r} is not one of "
                             f"{packing.WEIGHT_BITS}")
        calibrate_range(np.zeros(1), self.calibration)

    def to_json(self) -> dict:
        return {"name": self.name, "weight_bits": self.weight_bits,
                "weights": ("binary sign * mean|w|" if self.weight_bits == 1 else
                            f"INT{self.weight_bits} symmetric"),
                "weight_scales": "per-channel" if self.per_channel else "per-tensor",
                "activations": "INT8 asymmetric per-tensor, "
                               + ("dynamic" if self.dynamic else "static"),
                "calibration": self.calibration
                + (f" {self.percentile}" if self.calibration == "percentile" else ""),
                "training": "QAT (STE), distilled from FP32" if self.qat else "PTQ",
                "requantization": ("power-of-two multiplier (a shift)" if self.power_of_two
                                   else "15-bit multiplier and shift")}


class FakeQuant:
    """The quantizer :meth:`sw.learn.model.FloatMLP.forward` calls: float simulation of the
    integer model, with straight-through-estimator masks for training.

    ``ranges[i]`` is the calibrated ``(lo, hi)`` of layer ``i``'s output and
    ``activations[i]`` its ``(scale, zero_point)``; a hidden layer's ReLU is the clamp at
    its zero-point, as in :mod:`sw.spec.golden`."""

    def __init__(self, scheme: Scheme, ranges: list):
        self.scheme = scheme
        self.ranges = [tuple(map(float, r)) for r in ranges]

    @property
    def activations(self) -> list:
        return [tuple(map(float, affine_params(lo, hi))) for lo, hi in self.ranges]

    def input_params(self, layer: int) -> tuple[float, int]:
        if layer == 0:
            return INPUT_SCALE, 0
        scale, zero_point = self.activations[layer - 1]
        return scale, int(zero_point)

    def input(self, x: np.ndarray) -> np.ndarray:
        return fake_quant(x, INPUT_SCALE, 0, 8, symmetric=True)

    def layer_codes(self, layer: int, w: np.ndarray, b: np.ndarray):
        """``(weight codes, weight scale per channel, bias codes at s_in * s_w)``."""
        input_scale = self.input_params(layer)[0]
        unit = self.activations[layer][0] / input_scale if self.scheme.power_of_two else None
        codes, scale, _ = quantize_weights(w, self.scheme.weight_bits, self.scheme.per_channel,
                                           unit)
        bias_scale = input_scale * scale
        return codes, scale, round_half_up(b / bias_scale).astype(np.int64)

    def weights(self, layer: int, w: np.ndarray, b: np.ndarray):
        codes, scale, bias_codes = self.layer_codes(layer, w, b)
        w_q = codes * scale[:, None]
        b_q = bias_codes * self.input_params(layer)[0] * scale
        if self.scheme.weight_bits == 1:
            mask = (np.abs(w) <= 1).astype(float)   # BinaryConnect's hard-tanh STE
        else:
            mask = np.ones_like(w)                  # max-abs scales never clip a weight
        return w_q, b_q, mask

    def activation(self, layer: int, z: np.ndarray):
        hidden = layer < len(self.ranges) - 1
        values = np.maximum(z, 0) if hidden else z
        if self.scheme.dynamic:
            scale, zero_point = affine_params(*calibrate_range(values))
        else:
            scale, zero_point = affine_params(*self.ranges[layer])
        qmin = int(zero_point) if hidden else None
        return (fake_quant(z, scale, zero_point, qmin=qmin),
                ste_mask(z, scale, zero_point, qmin=qmin))


class Float16:
    """The FP16 quantizer: weights, biases, inputs and activations rounded to float16."""

    @staticmethod
    def input(x):
        return x.astype(np.float16).astype(float)

    @staticmethod
    def weights(layer, w, b):
        return (w.astype(np.float16).astype(float), b.astype(np.float16).astype(float),
                np.ones_like(w))

    def __init__(self, layers: int):
        self.layers = layers

    def activation(self, layer, z):
        hidden = layer < self.layers - 1
        out = (np.maximum(z, 0) if hidden else z).astype(np.float16).astype(float)
        return out, (z > 0).astype(float) if hidden else np.ones_like(z)


# ---- post-training quantization and QAT --------------------------------------------------

def activation_ranges(model: FloatMLP, x: np.ndarray, scheme: Scheme) -> list:
    """Static ``(lo, hi)`` per layer output (hidden layers after ReLU), calibrated on ``x``
    through the model with its weights quantized and its activations still float."""
    weights = [codes * scale[:, None] for codes, scale, _ in
               (quantize_weights(w, scheme.weight_bits, scheme.per_channel)
                for w in model.weights)]
    cache = []
    logits = FloatMLP(weights, model.biases).forward(x, cache=cache)
    ranges = []
    for values in [entry[0] for entry in cache[1:]] + [logits]:
        lo, hi = calibrate_range(values, scheme.calibration, scheme.percentile)
        ranges.append((float(lo), float(hi)))
    return ranges


def ptq(model: FloatMLP, scheme: Scheme, x_calibration: np.ndarray) -> FakeQuant:
    """Post-training quantization: weights quantized as they are, activation ranges
    calibrated on ``x_calibration``."""
    return FakeQuant(scheme, activation_ranges(model, x_calibration, scheme))


def qat(model: FloatMLP, scheme: Scheme, x, y, *, x_val, epochs=10, lr=3e-3, seed=0,
        progress=True) -> tuple[FloatMLP, FakeQuant]:
    """Quantization-aware training: fine-tune a copy of the FP32 ``model`` through the
    fake-quant nodes (STE) with the FP32 model's soft predictions as targets (distillation),
    static activation ranges from the PTQ calibration on ``x``, a cosine-decayed learning
    rate, keeping the epoch whose argmax agrees most with FP32 on ``x_val``. Returns the
    fine-tuned float weights and their quantizer. ``scheme.qat`` must be set: the scheme
    travels into the artifact, whose description must say QAT."""
    if not scheme.qat:
        raise ValueError(f"scheme {scheme.name!r} is not a QAT scheme (qat=False)")
    student = model.copy()
    quantizer = ptq(student, scheme, x)
    teacher_val = model.predict(x_val)

    def agreement(candidate: FloatMLP) -> float:
        return float(np.mean(candidate.predict(x_val, quantizer) == teacher_val))

    fit(student, x, y, x_val=x_val, y_val=teacher_val, epochs=epochs, lr=lr, cosine=True,
        soft=softmax(model.forward(x)), quantizer=quantizer, score=agreement, seed=seed,
        progress=progress, name=scheme.name)
    return student, quantizer


# ---- export --------------------------------------------------------------------------------

def multiplier_shift(real) -> tuple[np.ndarray, np.ndarray]:
    """``real ~= multiplier * 2**-shift`` with ``multiplier`` normalised to
    ``[2**14, 2**15)`` (unsigned 15-bit) and ``shift`` in ``[1, 46]``."""
    real = np.atleast_1d(np.asarray(real, dtype=float))
    if np.any(real <= 0):
        raise ValueError("requantization scale must be positive")
    top = MULTIPLIER_BITS - 1
    shift = top - np.floor(np.log2(real)).astype(np.int64)
    multiplier = np.round(real * 2.0 ** shift).astype(np.int64)
    overflow = multiplier >= 2 ** MULTIPLIER_BITS
    multiplier = np.where(overflow, multiplier // 2, multiplier)
    shift = np.where(overflow, shift - 1, shift)
    outside = np.flatnonzero((shift < 1) | (shift > MAX_REQUANT_SHIFT))
    if outside.size:
        n = outside[0]
        raise ValueError(f"output {n}: requantization scale {real[n]:.3g} needs shift "
                         f"{shift[n]}, outside [1, {MAX_REQUANT_SHIFT}] ({outside.size} of "
                         f"{real.size} outputs): the layer's weights or activations are "
                         "all but constant")
    return multiplier, shift


def to_integer_model(model: FloatMLP, quantizer: FakeQuant, spec: FeatureSpec,
                     classes=CLASSES, meta: dict | None = None) -> QuantizedModel:
    """The integer artifact of a fake-quantized model: weight codes, INT32 biases
    ``round(b / (s_in * s_w)) - zp_in * sum_i W_ji``, per-channel multiplier/shift of
    ``s_in * s_w / s_out``, output zero-points; ReLU on every layer but the last."""
    if quantizer.scheme.dynamic:
        raise ValueError("dynamic activation quantization has no integer export; "
                         "use static ranges")
    layers = []
    last = len(model.weights) - 1
    for i, (w, b) in enumerate(zip(model.weights, model.biases)):
        codes, weight_scale, bias_codes = quantizer.layer_codes(i, w, b)
        input_scale, input_zero_point = quantizer.input_params(i)
        output_scale, output_zero_point = quantizer.activations[i]
        try:
            multiplier, shift = multiplier_shift(input_scale * weight_scale / output_scale)
        except ValueError as error:
            raise ValueError(f"layer {i}, {error}") from None
        layers.append(QuantizedLayer(
            weights=codes, bias=bias_codes - input_zero_point * codes.sum(axis=1),
            multiplier=multiplier, shift=shift, output_zero_point=int(output_zero_point),
            relu=i < last, weight_bits=quantizer.scheme.weight_bits,
            input_scale=input_scale, weight_scale=weight_scale, output_scale=output_scale))
    return QuantizedModel(spec, layers, tuple(classes),
                          dict(meta or {}, scheme=quantizer.scheme.to_json()))


def dequantize_outputs(model: QuantizedModel, raw: np.ndarray) -> np.ndarray:
    """Final INT8 outputs -> real logits."""
    last = model.layers[-1]
    return dequantize(raw, last.output_scale, last.output_zero_point)
