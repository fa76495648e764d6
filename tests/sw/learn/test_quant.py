"""Quantization maths, STE, binary dot products, metrics, and export against sw.spec.golden."""

import numpy as np
import pytest

from sw.learn.model import FloatMLP
from sw.learn.quant import (
    INPUT_SCALE,
    FakeQuant,
    Float16,
    Scheme,
    affine_params,
    calibrate_range,
    fake_quant,
    mse,
    multiplier_shift,
    power_of_two_scales,
    ptq,
    qat,
    quantize,
    quantize_weights,
    snr_db,
    ste_mask,
    to_integer_model,
    xnor_popcount_dot,
)
from sw.spec import golden, packing
from sw.spec.features import FeatureSpec

rng = np.random.default_rng(0)


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("symmetric", [True, False])
def test_round_trip_error_within_half_a_step(bits, symmetric):
    x = rng.normal(0.3, 1.0, 2000)
    scale, zero_point = affine_params(*calibrate_range(x), bits=bits, symmetric=symmetric)
    error = np.abs(fake_quant(x, scale, zero_point, bits, symmetric) - x)
    assert error.max() <= scale / 2 + 1e-12
    q = quantize(x, scale, zero_point, bits, symmetric)
    low = -(2 ** (bits - 1)) + (1 if symmetric else 0)
    assert q.min() >= low and q.max() <= 2 ** (bits - 1) - 1


def test_symmetric_vs_asymmetric():
    x = rng.uniform(0, 6, 1000)                      # one-sided, like ReLU outputs
    s_sym, zp_sym = affine_params(x.min(), x.max(), symmetric=True)
    s_asym, zp_asym = affine_params(x.min(), x.max(), symmetric=False)
    assert zp_sym == 0 and s_sym == pytest.approx(x.max() / 127)
    assert s_asym == pytest.approx(x.max() / 255) and zp_asym == -128
    # asymmetric uses all 256 codes on one-sided data: about half the error
    err_sym = mse(x, fake_quant(x, s_sym, zp_sym, symmetric=True))
    err_asym = mse(x, fake_quant(x, s_asym, zp_asym))
    assert err_asym < 0.5 * err_sym
    # zero is always exactly representable
    assert fake_quant(0.0, s_asym, zp_asym) == 0.0


def test_percentile_calibration_clips_outliers():
    x = np.append(rng.normal(0, 1, 10_000), 50.0)
    lo, hi = calibrate_range(x, "minmax")
    assert hi == 50.0
    lo_p, hi_p = calibrate_range(x, "percentile", 99.9)
    assert 2 < hi_p < 5 and -5 < lo_p < -2
    with pytest.raises(ValueError, match="calibration"):
        calibrate_range(x, "entropy")


def test_per_channel_beats_per_tensor_on_unequal_rows():
    w = rng.normal(0, 1, (4, 32)) * np.array([[0.01], [0.1], [1], [10]])
    per_channel = quantize_weights(w, 8, per_channel=True)
    per_tensor = quantize_weights(w, 8, per_channel=False)
    assert np.allclose(per_channel[1], np.abs(w).max(axis=1) / 127)
    assert len(set(per_tensor[1])) == 1
    snr = [snr_db(w, codes * scale[:, None]) for codes, scale, _ in (per_channel, per_tensor)]
    assert snr[0] > snr[1] + 3
    assert snr[0] > 30


def test_int4_codes_pack_two_per_byte():
    w = rng.normal(0, 1, (16, 7))
    codes, scale, _ = quantize_weights(w, 4)
    assert codes.min() >= -7 and codes.max() <= 7
    blob = packing.pack(codes, 4)
    assert len(blob) == (codes.size + 1) // 2
    assert np.array_equal(packing.unpack(blob, 4, codes.size).reshape(codes.shape), codes)


def test_binary_weights_are_sign_times_mean_abs():
    w = np.array([[0.5, -1.5, 0.0], [-0.2, -0.2, 0.2]])
    codes, scale, _ = quantize_weights(w, 1)
    assert codes.tolist() == [[1, -1, 1], [-1, -1, 1]]
    assert np.allclose(scale, [2 / 3, 0.2])


@pytest.mark.parametrize("length", [1, 7, 8, 16, 33, 200])
def test_xnor_popcount_equals_dot_product(length):
    for _ in range(20):
        a, b = rng.choice([-1, 1], length), rng.choice([-1, 1], length)
        assert xnor_popcount_dot(packing.pack(a, 1), packing.pack(b, 1), length) == int(a @ b)


def test_snr_and_mse_formulas():
    reference = np.array([3.0, 4.0])
    approximation = np.array([3.0, 3.0])
    assert mse(reference, approximation) == 0.5
    assert snr_db(reference, approximation) == pytest.approx(10 * np.log10(25 / 1))
    assert snr_db(reference, reference) == float("inf")
    # one more bit halves the step: about 6 dB more
    x = rng.normal(0, 1, 100_000)
    snr = [snr_db(x, fake_quant(x, *affine_params(x.min(), x.max(), b, True), b, True))
           for b in (6, 7)]
    assert snr[1] - snr[0] == pytest.approx(6.02, abs=0.3)


def test_quantize_qmin_raises_the_low_end_only():
    x = np.array([-3.0, -0.2, 0.0, 0.26, 100.0])
    assert quantize(x, 0.1, -10, qmin=-10).tolist() == [-10, -10, -10, -7, 127]
    assert quantize(x, 0.1, -10).tolist() == [-40, -12, -10, -7, 127]
    assert fake_quant(x, 0.1, -10, qmin=-10) == pytest.approx([0, 0, 0, 0.3, 13.7])


def test_ste_passes_gradient_inside_range_only():
    scale, zero_point = 0.1, -128     # codes [-128, 127] cover [0, 25.5]
    x = np.array([-1.0, -0.04, 0.0, 10.0, 25.5, 25.54, 26.0, 100.0])
    assert ste_mask(x, scale, zero_point).tolist() == [0, 1, 1, 1, 1, 1, 0, 0]
    # through the network: a weight whose output is clipped gets no gradient
    model = FloatMLP([np.array([[1.0], [-1.0]]), np.array([[1.0, 1.0]])],
                     [np.zeros(2), np.zeros(1)])
    quantizer = FakeQuant(Scheme(), [(0.0, 1.0), (-1.0, 1.0)])
    cache = []
    model.forward(np.array([[0.5]]), quantizer, cache)
    grads = model.backward(cache, np.ones((1, 1)))
    assert grads[0][0][0, 0] != 0          # unit 0: 0.5 inside [0, 1]
    assert grads[0][0][1, 0] == 0          # unit 1: -0.5 clipped by the ReLU clamp


def test_multiplier_shift_normalised():
    real = np.array([1e-6, 3e-3, 0.25, 0.7, 1.0, 1234.5])
    multiplier, shift = multiplier_shift(real)
    assert np.all((multiplier >= 2 ** 14) & (multiplier < 2 ** 15))
    assert np.all((shift >= 1) & (shift <= 46))
    assert np.allclose(multiplier / 2.0 ** shift, real, rtol=2 ** -14)
    # D24 of issue 13: one line naming the output and the reason, not a NumPy dump
    with pytest.raises(ValueError) as error:
        multiplier_shift([0.5, 1e-20, 1e-21])
    assert str(error.value) == (
        "output 1: requantization scale 1e-20 needs shift 81, outside [1, 46] (2 of 3 "
        "outputs): the layer's weights or activations are all but constant")


def random_mlp(seed, sizes=(7, 16, 3)):
    return FloatMLP.init(list(sizes), seed)


@pytest.mark.parametrize("bits", [8, 4, 1])
@pytest.mark.parametrize("per_channel", [True, False])
def test_integer_model_matches_fake_quant_on_random_data(bits, per_channel):
    model = random_mlp(bits)
    model.biases = [rng.normal(0, 0.3, len(b)) for b in model.biases]
    codes = rng.integers(-127, 128, (3000, 7))
    x = codes / 127
    quantizer = ptq(model, Scheme(weight_bits=bits, per_channel=per_channel), x)
    integer = to_integer_model(model, quantizer, FeatureSpec())
    signal, raw = golden.infer(integer, codes)
    fake = model.forward(x, quantizer)
    last = integer.layers[-1]
    fake_codes = quantize(fake, last.output_scale, last.output_zero_point)
    assert np.mean(np.argmax(fake, axis=1) == signal) >= 0.995
    assert np.max(np.abs(fake_codes - raw)) <= 1
    assert np.mean(fake_codes == raw) >= 0.98
    # bias folding: zero input codes give the bias of the first layer at scale s_in * s_w
    first = integer.layers[0]
    assert np.array_equal(golden.accumulate(first, np.zeros((1, 7), int))[0], first.bias)
    # ... and on every layer, an input of real 0 (all codes at the input zero-point) must
    # accumulate to the float bias rounded at scale s_in * s_w, computed here from the float
    # model and the scales alone, whatever zero-point to_integer_model folded in
    assert integer.layers[1].relu is False and integer.layers[0].output_zero_point != 0
    scale_in, zero_point_in = INPUT_SCALE, 0
    for layer, bias in zip(integer.layers, model.biases):
        real_zero = np.full((1, layer.inputs), zero_point_in)
        step = scale_in * layer.weight_scale
        expected = np.floor(bias / step + 0.5)
        assert np.array_equal(golden.accumulate(layer, real_zero)[0], expected)
        assert np.all(np.abs(expected * step - bias) <= step / 2)
        scale_in, zero_point_in = layer.output_scale, layer.output_zero_point


def test_power_of_two_scales():
    scale = np.array([0.3, 1.0, 1e-4, 7.9])
    up = power_of_two_scales(scale, 0.75)
    exponents = np.log2(up / 0.75)
    assert np.allclose(exponents, np.round(exponents))
    assert np.all(up >= scale) and np.all(up < 2 * scale)
    nearest = power_of_two_scales(scale, 0.75, np.round)
    assert np.all(np.abs(np.log2(nearest / scale)) <= 0.5)


@pytest.mark.parametrize("bits", [8, 4, 1])
@pytest.mark.parametrize("per_channel", [True, False])
def test_power_of_two_scheme_requantizes_by_a_shift_exactly(bits, per_channel):
    """Every multiplier is 2**14 (the hardware's shift-only requantization), no weight
    clips, and the integer model equals its fake-quant simulation code for code (the
    scaling is exact; ties round up in both)."""
    model = random_mlp(bits + 10)
    model.biases = [rng.normal(0, 0.3, len(b)) for b in model.biases]
    codes = rng.integers(-127, 128, (3000, 7))
    x = codes / 127
    scheme = Scheme(weight_bits=bits, per_channel=per_channel, power_of_two=True)
    quantizer = ptq(model, scheme, x)
    integer = to_integer_model(model, quantizer, FeatureSpec())
    assert all((l.multiplier == 2 ** 14).all() for l in integer.layers)
    if bits > 1:
        qmax = 2 ** (bits - 1) - 1
        peak = [np.abs(l.weights).max(axis=1) for l in integer.layers]
        assert all((p <= qmax).all() for p in peak)
        if per_channel:
            assert all((p > qmax // 2).all() for p in peak)
    signal, raw = golden.infer(integer, codes)
    fake = model.forward(x, quantizer)
    last = integer.layers[-1]
    assert np.array_equal(quantize(fake, last.output_scale, last.output_zero_point), raw)
    assert integer.meta["scheme"]["requantization"].startswith("power-of-two")


def test_dynamic_quantization_is_software_only():
    model = random_mlp(0)
    x = rng.uniform(-1, 1, (256, 7))
    dynamic = FakeQuant(Scheme(dynamic=True), [(0, 1), (-1, 1)])
    static = ptq(model, Scheme(), x)
    assert np.mean(model.predict(x, dynamic) == model.predict(x)) > 0.95
    assert np.mean(model.predict(x, static) == model.predict(x)) > 0.95
    with pytest.raises(ValueError, match="dynamic"):
        to_integer_model(model, dynamic, FeatureSpec())


def test_float16_is_close_to_float32():
    model = random_mlp(1)
    x = rng.uniform(-1, 1, (500, 7))
    half = model.forward(x, Float16(2))
    assert snr_db(model.forward(x), half) > 50


def test_qat_needs_a_qat_scheme():
    model = random_mlp(2)
    x = rng.uniform(-1, 1, (64, 7))
    with pytest.raises(ValueError, match="not a QAT scheme"):
        qat(model, Scheme(weight_bits=4), x, model.predict(x), x_val=x, epochs=1,
            progress=False)


def test_scheme_rejects_bad_bits():
    with pytest.raises(ValueError, match="weight_bits"):
        Scheme(weight_bits=3)
