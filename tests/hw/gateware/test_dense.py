"""hw.gateware.dense (ParallelDense, FoldedDense) against sw.spec.golden.dense: INT8/INT4/binary
weights, requantization by a multiplier or (power-of-two multipliers) by a shift, random
backpressure, declared latency and ii measured."""

import numpy as np
import pytest

from hw.gateware.arith import csd
from hw.gateware.dense import (
    LEVELS_PER_STAGE,
    ParallelDense,
    check_lanes,
    clamp_thresholds,
    dense_layer,
)
from sim.bench import decode
from sw.spec import golden
from sw.spec.artifact import random_model
from tests.stream_sim import pack_vector, simulate, unpack_vector


def random_layer(seed, inputs, outputs, weight_bits, relu=True):
    """A ``inputs -> outputs`` layer of a random model, with ReLU (and a zero-point) or not."""
    rng = np.random.default_rng(seed)
    model = random_model(rng, hidden=(inputs, outputs), weight_bits=weight_bits)
    return model.layers[1] if relu else random_model(
        rng, hidden=(inputs,), classes=outputs, weight_bits=weight_bits).layers[-1]


def power_of_two(layer, seed):
    """``layer`` with every multiplier 2**14, as the default quantization scheme makes them
    (the requantization is then a shift), shifts kept."""
    layer.multiplier[:] = 2 ** 14
    return layer


def random_inputs(seed, count, inputs):
    """INT8 vectors, a fifth of them at the extremes -128 / 127."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(count, inputs))
    edge = rng.random((count, inputs)) < 0.2
    return np.where(edge, rng.choice([-128, 127], size=(count, inputs)), x)


def check(layer, lanes, x, **options):
    dut = dense_layer(layer, lanes)
    warm = np.arange(len(x)) % 3 == 1
    run = simulate(dut, [pack_vector(row, w) for row, w in zip(x, warm)], **options)
    got = [unpack_vector(value, layer.outputs) for value in run.outputs]
    expected = golden.dense(layer, x)
    assert [codes for codes, _ in got] == [tuple(map(int, row)) for row in expected]
    assert [w for _, w in got] == list(warm)
    return dut, run


def test_csd_digits():
    for value in range(-300, 300):
        digits = csd(value)
        assert sum(sign << shift for sign, shift in digits) == value
        assert len(digits) <= (abs(value).bit_length() + 2) // 2 + 1


@pytest.mark.parametrize("weight_bits", [8, 4, 1])
@pytest.mark.parametrize("lanes", [None, 1, 2])
def test_dense_matches_golden(weight_bits, lanes):
    layer = random_layer(weight_bits, 5, 4, weight_bits)
    check(layer, lanes, random_inputs(1, 40, 5), in_gaps=0.3, out_gaps=0.4, seed=2)


@pytest.mark.parametrize("seed", range(6))
def test_dense_random_configurations(seed):
    rng = np.random.default_rng(100 + seed)
    inputs, outputs = int(rng.integers(1, 12)), int(rng.integers(1, 9))
    weight_bits = int(rng.choice([8, 4, 1]))
    divisors = [d for d in range(1, outputs + 1) if outputs % d == 0]
    lanes = [None, int(rng.choice(divisors))][seed % 2]
    layer = random_layer(seed, inputs, outputs, weight_bits, relu=bool(seed % 3))
    check(layer, lanes, random_inputs(seed, 30, inputs), in_gaps=0.2, out_gaps=0.5,
          seed=seed)


def test_dense_requantization_extremes():
    """Shift 1 and 46, multiplier 0 and 2**15 - 1, large biases: the rounding, the
    arithmetic shift and both clamps."""
    layer = random_layer(7, 6, 6, 8, relu=True)
    layer.shift[:] = [1, 46, 1, 20, 12, 2]
    layer.multiplier[:] = [2 ** 15 - 1, 2 ** 15 - 1, 0, 1, 2 ** 15 - 1, 3]
    layer.bias[:] = [-2 ** 30, 2 ** 30, 5, -7, 0, 1]
    x = random_inputs(3, 60, 6)
    for lanes in (None, 3):
        check(layer, lanes, x, out_gaps=0.3)


@pytest.mark.parametrize("multiplier, shift, zero_point, output_min", [
    (1, 1, 0, -128), (3, 2, 0, -128), (2 ** 15 - 1, 20, 0, -128), (20000, 22, -7, -7),
    (12345, 18, 30, 30), (0, 5, 0, -128), (0, 5, 10, 10), (1, 46, 0, -128),
    (2 ** 14 + 1, 12, -128, -128)])
def test_clamp_thresholds_match_the_golden_clamp(multiplier, shift, zero_point, output_min):
    """For every accumulator in a range around both thresholds: ``acc >= ceiling`` exactly
    where sw.spec.golden's output clamps to 127, ``acc < floor`` exactly where it clamps to
    ``output_min``, and thresholds stay within the accumulator's range."""
    acc_range = range(-40000, 40001)
    ceiling, floor = clamp_thresholds(acc_range, multiplier, shift, zero_point, output_min)
    assert acc_range.start <= floor <= ceiling <= acc_range.stop
    acc = np.arange(acc_range.start, acc_range.stop, dtype=np.int64)
    unclamped = zero_point + ((acc * multiplier + (1 << (shift - 1))) >> shift)
    assert ((acc >= ceiling) == (unclamped > 127)).all()
    assert ((acc < floor) == (unclamped < output_min)).all()


def test_dense_dsp_requantization_every_table_entry():
    """A 20-bit accumulator: its low 17 bits are multiplied by ``M`` (a DSP), its top 3 pick
    one of 8 precomputed constants. Output ``j``'s bias sits in the middle of top-bits value
    ``j - 4``, so every entry is used; the shifts put outputs in range and at both clamps."""
    layer = random_layer(5, 3, 8, 8, relu=False)
    layer.bias[:] = [(j - 4) * 2 ** 17 + 2 ** 16 for j in range(8)]
    layer.shift[:] = [26, 26, 26, 27, 25, 26, 28, 26]
    x = random_inputs(9, 80, 3)
    dut, _ = check(layer, None, x, out_gaps=0.3)
    assert dut._dsp_requantization and dut._split
    assert set((golden.accumulate(layer, x) >> 17).ravel()) == set(range(-4, 4))
    y = golden.dense(layer, x)
    assert (y[:, 0] == -128).any() and (y[:, 0] > -128).any() and (y[:, 7] == 127).all()


@pytest.mark.parametrize("weight_bits", [8, 4, 1])
@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("seed", range(3))
def test_dense_shift_requantization(weight_bits, relu, seed):
    """Power-of-two multipliers: bias, rounding and zero-point folded into the tree's
    constant, the clamp from the sum's top bits (or compares, for a ReLU zero-point above
    -128); shifts below 14 (the terms shifted left), at 14 and far above it, both clamps
    reached, with and without the argmax."""
    layer = power_of_two(random_layer(20 + seed, 6, 5, weight_bits, relu=relu), seed)
    layer.shift[:] = [1, 14, int(layer.shift[2]), int(layer.shift[3]) + 3, 46]
    layer.output_zero_point = -128 if seed == 0 and relu else layer.output_zero_point
    layer.bias[4] = 2 ** 30 * (1 if seed % 2 else -1)
    x = random_inputs(seed, 60, 6)
    y = golden.dense(layer, x)
    assert (y == 127).any() and (y == layer.output_min).any() and len(np.unique(y)) > 20
    for lanes in (None, 5):
        dut, run = check(layer, lanes, x, in_gaps=0.3, out_gaps=0.4, seed=seed)
        assert dut._shift_requantization
    dut, run = check(layer, None, x[:6], isolated=True)
    assert [o - i for i, o in zip(run.in_cycles, run.out_cycles)] == [dut.latency] * 6
    assert all(len(levels) <= LEVELS_PER_STAGE for levels in dut.schedule)
    assert dut.schedule[-1][-1] == "clamp"
    with_argmax = ParallelDense(layer, argmax=True)
    assert with_argmax.schedule[-1][-1] == "argmax"
    signals, codes, _ = decode(simulate(with_argmax, [pack_vector(row, 0) for row in x],
                                        out_gaps=0.3).outputs, layer.outputs)
    assert signals.tolist() == golden.argmax(y).tolist() and np.array_equal(codes, y)


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("lanes", [None, 1, 4])
@pytest.mark.parametrize("shift_only", [False, True])
def test_dense_latency_and_ii(lanes, wide, shift_only):
    """``wide``: an accumulator over 18 bits, whose requantization multiply is split;
    ``shift_only``: power-of-two multipliers (a shift)."""
    layer = random_layer(11, 7, 8, 8)
    layer.bias[0] = 2 ** 20 if wide else layer.bias[0]
    if shift_only:
        power_of_two(layer, 11)
    x = random_inputs(4, 12, 7)
    dut, run = check(layer, lanes, x, isolated=True)
    assert [o - i for i, o in zip(run.in_cycles, run.out_cycles)] == [dut.latency] * len(x)
    dut, run = check(layer, lanes, x)
    assert set(np.diff(run.in_cycles)) == {dut.ii}
    assert set(np.diff(run.out_cycles)) == {dut.ii}
    assert dut.ii == (1 if lanes is None else 7 * 8 // lanes)


def test_dense_reset_mid_stream():
    layer = random_layer(12, 4, 4, 8)
    x = random_inputs(5, 30, 4)
    for lanes in (None, 2):
        dut = dense_layer(layer, lanes)
        run = simulate(dut, [pack_vector(row, 0) for row in x], reset_at=11, out_gaps=0.3)
        got = [unpack_vector(value, 4)[0] for value in run.after_reset]
        assert got == [tuple(map(int, row)) for row in golden.dense(layer, x[11:])]


@pytest.mark.parametrize("lanes, reason", [
    (0, "divisor of its 6 outputs"), (4, "divisor"), (7, "divisor"), (31, "30 \\(fully"),
    (2.5, "integer")])
def test_dense_bad_lanes(lanes, reason):
    with pytest.raises(ValueError, match=reason):
        check_lanes(random_layer(1, 5, 6, 8), lanes)


def test_dense_requantization_on_ecp5_uses_the_dsp_output_register():
    """Built for an ECP5, each output's multiply by ``M`` is a MULT18X18D whose output
    register (clock enable: the layer's advance) is the product register; simulation and
    other FPGAs get ``*`` and a register, which every other test here checks bit for bit."""
    from amaranth.hdl import Fragment, Instance

    class ECP5:
        family = "ecp5"

    layer = random_layer(11, 7, 8, 8)
    dsps = [fragment for fragment, *_ in
            Fragment.get(ParallelDense(layer), ECP5()).subfragments
            if isinstance(fragment, Instance)]
    assert len(dsps) == layer.outputs
    for dsp in dsps:
        assert dsp.type == "MULT18X18D"
        assert dsp.parameters == {"REG_OUTPUT_CLK": "CLK0", "REG_OUTPUT_CE": "CE0",
                                  "REG_OUTPUT_RST": "RST0"}
        ports = {name: value for name, (value, _) in dsp.ports.items()}
        assert {f"{port}{bit}" for port in "AB" for bit in range(18)} <= set(ports)
        assert {f"P{bit}" for bit in range(36)} <= set(ports)
        assert repr(ports["CLK0"]) == "(clk sync)"
        assert repr(ports["CE0"]) == "(| (~ (sig o__valid)) (sig o__ready))"
        assert ports["SIGNEDA"].value == 1 and ports["RST0"].value == 0
    assert [d for d in Fragment.get(ParallelDense(layer), None).subfragments
            if isinstance(d[0], Instance)] == []
