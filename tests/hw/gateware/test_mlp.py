"""hw.gateware.mlp.MLP (with and without the argmax) against sw.spec.golden.infer /
sw.spec.golden.argmax, random models and per-layer parallelism, with random backpressure."""

import numpy as np
import pytest

from hw.gateware.dense import dense_layer
from hw.gateware.mlp import MLP, lanes_per_layer
from sim.bench import decode
from sw.spec import golden
from sw.spec.artifact import random_model
from sw.spec.features import FEATURES, FeatureSpec
from tests.stream_sim import pack_vector, simulate, unpack_vector


def random_features(seed, count, inputs):
    rng = np.random.default_rng(seed)
    x = rng.integers(-127, 128, size=(count, inputs))
    return np.where(rng.random((count, inputs)) < 0.2, rng.choice([-127, 127], x.shape), x)


@pytest.mark.parametrize("seed", range(5))
def test_mlp_random_models(seed):
    rng = np.random.default_rng(seed)
    names = FEATURES[:int(rng.integers(2, len(FEATURES) + 1))]
    spec = FeatureSpec(names, (10,) * len(names))
    hidden = tuple(int(h) for h in rng.integers(2, 10, size=int(rng.integers(1, 3))))
    classes = int(rng.integers(2, 6))
    model = random_model(rng, spec, hidden, classes, weight_bits=int(rng.choice([8, 4, 1])))
    lanes = tuple(None if rng.random() < 0.5 else
                  int(rng.choice([d for d in range(1, l.outputs + 1) if l.outputs % d == 0]))
                  for l in model.layers)
    x = random_features(seed, 25, len(names))
    warm = rng.random(len(x)) < 0.5
    signal, raw = golden.infer(model, x)
    for argmax in (False, True):
        dut = MLP(model, lanes, argmax=argmax)
        run = simulate(dut, [pack_vector(row, w) for row, w in zip(x, warm)],
                       in_gaps=0.3, out_gaps=0.5, seed=seed)
        if argmax:
            signals, codes, warms = decode(run.outputs, classes)
            assert signals.tolist() == signal.tolist()
            got = list(zip(map(tuple, codes.tolist()), warms.tolist()))
        else:
            got = [unpack_vector(value, classes) for value in run.outputs]
        assert [codes for codes, _ in got] == [tuple(map(int, row)) for row in raw], lanes
        assert [w for _, w in got] == list(warm)
        isolated = simulate(dut, [pack_vector(row, 0) for row in x[:3]], isolated=True)
        assert set(np.subtract(isolated.out_cycles, isolated.in_cycles)) == {dut.latency}


def test_mlp_bad_lanes():
    model = random_model(np.random.default_rng(0))
    with pytest.raises(ValueError, match="2 values for a model of 2 layers|3 values"):
        lanes_per_layer(model, (1, 1, 1))
    with pytest.raises(ValueError, match="layer 1: lanes=2"):
        lanes_per_layer(model, (None, 2))


@pytest.mark.parametrize("classes", [2, 3, 5])
@pytest.mark.parametrize("lanes", [None, 1])
def test_argmax_first_maximum(classes, lanes):
    """The argmax a layer decides: an identity layer (weight 1, bias 0, multiplier 2**14,
    shift 14) passes its inputs on, ties and extremes included."""
    rng = np.random.default_rng(classes)
    raw = rng.integers(-128, 128, size=(200, classes))
    raw[::3] = rng.integers(-2, 1, size=(len(raw[::3]), classes))    # many ties
    raw[1] = 127
    raw[2] = -128
    identity = random_model(rng, FeatureSpec(FEATURES[:classes], (10,) * classes), (),
                            classes).layers[0]
    identity.weights[:] = np.eye(classes, dtype=np.int64)
    identity.bias[:], identity.multiplier[:], identity.shift[:] = 0, 2 ** 14, 14
    identity.output_zero_point = 0
    assert np.array_equal(golden.dense(identity, raw), raw)
    dut = dense_layer(identity, lanes, argmax=True)
    run = simulate(dut, [pack_vector(row, n % 2) for n, row in enumerate(raw)],
                   in_gaps=0.3, out_gaps=0.5)
    signals, codes, warm = decode(run.outputs, classes)
    assert signals.tolist() == list(golden.argmax(raw))
    assert list(zip(map(tuple, codes.tolist()), warm.tolist())) == [
        (tuple(map(int, row)), bool(n % 2)) for n, row in enumerate(raw)]
    isolated = simulate(dut, [pack_vector(row, 0) for row in raw[:5]], isolated=True)
    assert set(np.subtract(isolated.out_cycles, isolated.in_cycles)) == {dut.latency}
