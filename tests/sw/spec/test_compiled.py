"""The compiled reference (sw.spec.compiled) against sw.spec.golden, bit for bit."""

import numpy as np
import pytest

from sim.edge_bench import edge_cases
from sw.spec import compiled, golden
from sw.spec.artifact import QuantizedLayer, random_model
from sw.spec.features import FeatureSpec
from tests.sw.spec.test_features import make_klines


def assert_same(outputs: golden.Outputs, expected: golden.Outputs):
    assert outputs.signal.dtype == expected.signal.dtype
    assert np.array_equal(outputs.signal, expected.signal)
    assert np.array_equal(outputs.raw, expected.raw)
    assert np.array_equal(outputs.warm, expected.warm)


def recorded_files(data_dir):
    files = sorted(data_dir.glob("*.csv")) + sorted((data_dir / "responses").glob("*.json"))
    assert len(files) >= 9
    return files


def test_every_recorded_kline(data_dir, default_model):
    from sw.data.load import load
    models = [default_model, random_model(np.random.default_rng(1))]
    for path in recorded_files(data_dir):
        klines = load(path)
        for model in models:
            expected = golden.run(model, klines)
            assert_same(compiled.run(model, klines), expected)
        assert len(set(expected.signal.tolist())) > 1, path.name   # not a constant signal


SPECS = [FeatureSpec(),
         FeatureSpec(("volume", "ret_16", "body"), (8, 12, 16), volume_window=4),
         FeatureSpec(("lower_wick", "upper_wick", "range", "ret_4"), (20, 0, 9, 13), 256)]


@pytest.mark.parametrize("bits", [8, 4, 1])
@pytest.mark.parametrize("spec", range(len(SPECS)))
def test_random_models(klines_5m, bits, spec):
    rng = np.random.default_rng(10 * bits + spec)
    klines = klines_5m[:3000]
    for hidden in [(16,), (5, 9), ()]:
        model = random_model(rng, SPECS[spec], hidden=hidden, classes=2 + len(hidden),
                             weight_bits=bits)
        assert_same(compiled.run(model, klines), golden.run(model, klines))


def test_extreme_klines():
    model = random_model(np.random.default_rng(2))
    reference = compiled.Reference(model)   # one state, reset for every case
    for name, klines in edge_cases(seed=3, warmup=model.features.warmup_klines).items():
        expected = golden.run(model, klines)
        assert_same(reference.run(klines), expected)


def test_accumulator_overflow_is_raised_like_golden():
    model = random_model(np.random.default_rng(0), FeatureSpec(("body",), (20,)), hidden=())
    model.layers[0] = QuantizedLayer(weights=np.full((3, 1), 127), bias=np.full(3, 2 ** 31 - 2),
                                     multiplier=np.full(3, 2 ** 14), shift=np.full(3, 20),
                                     output_zero_point=0, relu=False)
    price = np.full(4, 10 ** 6)     # the last body saturates at 127: acc leaves INT32
    klines = make_klines(price, price * 2, price, price + [0, 0, 0, 10 ** 5], price)
    with pytest.raises(golden.AccumulatorOverflow):
        golden.run(model, klines)
    with pytest.raises(golden.AccumulatorOverflow):
        compiled.run(model, klines)
    assert_same(compiled.run(model, klines[:3]), golden.run(model, klines[:3]))


def test_timed_passes_keep_the_results(klines_5m):
    """The dependent loop's link to the previous signal changes nothing, and the timing
    helpers give one figure per kline."""
    model = random_model(np.random.default_rng(4))
    klines = klines_5m[:2000]
    expected = golden.run(model, klines)
    reference = compiled.Reference(model)
    for dependent in (True, False):
        assert reference.chain_ns(klines, passes=2, dependent=dependent) > 0
        assert_same(reference.outputs, expected)
    times = reference.kline_times_ns(klines)
    assert times.shape == (len(klines),)
    assert_same(reference.outputs, expected)
    assert 0 < reference.timer_overhead_ns(1000) < 1e6
