"""The integer inference spec (sw.spec.golden) and the model artifact it reads."""

import json

import numpy as np
import pytest

from sw.spec import golden
from sw.spec.artifact import ArtifactError, QuantizedLayer, load, random_model, save


def layer(weights, bias, multiplier=2 ** 14, shift=15, zero_point=0, relu=False):
    n = len(bias)
    return QuantizedLayer(weights=np.array(weights), bias=np.array(bias),
                          multiplier=np.full(n, multiplier), shift=np.full(n, shift),
                          output_zero_point=zero_point, relu=relu)


def test_hand_computed_layer_rounds_ties_up():
    # multiplier 2**14 >> 15 halves the accumulator: acc 6 -> 3, 5 -> 2.5 -> 3, -5 -> -2.5 -> -2
    dense = layer([[2, 1], [2, 1], [-2, -1]], [1, 0, 0], zero_point=10)
    x = np.array([[3, -1]])
    accumulators = golden.accumulate(dense, x)
    assert accumulators.tolist() == [[6, 5, -5]]
    assert golden.dense(dense, x).tolist() == [[13, 13, 8]]


def test_rounding_is_nearest_away_from_ties():
    dense = layer([[1]], [0], multiplier=3 * 2 ** 12, shift=15)   # scale 0.375
    x = np.arange(-5, 6)[:, None]
    expected = np.floor(x * 0.375 + 0.5)
    assert np.array_equal(golden.dense(dense, x), expected)


def test_relu_clamps_at_zero_point_and_output_saturates():
    dense = layer([[1], [1]], [-1000, 1000], shift=14, zero_point=-100, relu=True)
    assert golden.dense(dense, np.array([[0]])).tolist() == [[-100, 127]]
    linear = layer([[1]], [-1000], shift=14, zero_point=-100)
    assert golden.dense(linear, np.array([[0]])).tolist() == [[-128]]


def test_argmax_tie_takes_lowest_index():
    outputs = np.array([[5, 5, 1], [0, 7, 7], [-3, -3, -3], [1, 2, 3]])
    assert golden.argmax(outputs).tolist() == [0, 1, 0, 2]


def test_int32_overflow_is_detected():
    top = 2 ** 31 - 1 - 127 * 127
    x = np.array([[127]])
    assert golden.accumulate(layer([[127]], [top]), x).tolist() == [[2 ** 31 - 1]]
    with pytest.raises(golden.AccumulatorOverflow):
        golden.accumulate(layer([[127]], [top + 1]), x)
    with pytest.raises(golden.AccumulatorOverflow):
        golden.accumulate(layer([[-128]], [-2 ** 31 + 127 * 128 - 1]), x)


@pytest.mark.parametrize("bits", [8, 4, 1])
def test_artifact_round_trip(tmp_path, bits):
    model = random_model(np.random.default_rng(bits), weight_bits=bits)
    model.meta["note"] = "round trip"
    back = load(save(model, tmp_path))
    assert back.features == model.features and back.classes == model.classes
    assert back.meta == model.meta
    for a, b in zip(model.layers, back.layers):
        for name in ("weights", "bias", "multiplier", "shift"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert (a.output_zero_point, a.relu, a.weight_bits) == (b.output_zero_point, b.relu,
                                                                b.weight_bits)
    x = np.random.default_rng(0).integers(-127, 128, (50, 7))
    assert np.array_equal(golden.infer(model, x)[1], golden.infer(back, x)[1])


@pytest.fixture
def saved(tmp_path):
    path = save(random_model(np.random.default_rng(0)), tmp_path / "model.json")
    return path, json.loads(path.read_text())


def rewrite(path, data):
    path.write_text(json.dumps(data))


def test_load_rejects_truncated_file(saved):
    path, _ = saved
    text = path.read_text()
    path.write_text(text[:len(text) // 2])
    with pytest.raises(ArtifactError, match="not a complete JSON"):
        load(path)


@pytest.mark.parametrize("version", [{"schema_version": 99}, {"version": 99}])
def test_load_rejects_other_version(saved, version):
    path, data = saved
    del data["schema_version"]
    rewrite(path, dict(data, **version))
    with pytest.raises(ArtifactError, match="schema_version: file has 99"):
        load(path)


def test_load_reads_version_1_files(saved):
    """Version 1: ``version`` instead of ``schema_version``, a scheme by its name alone."""
    path, data = saved
    del data["schema_version"]
    rewrite(path, dict(data, version=1, meta={"scheme": "random"}))
    assert load(path).meta["scheme"] == {"name": "random"}
    assert load(path).meta == random_model(np.random.default_rng(0)).meta


def test_load_rejects_out_of_range_multiplier(saved):
    path, data = saved
    data["layers"][1]["multiplier"][0] = 2 ** 15
    rewrite(path, data)
    with pytest.raises(ArtifactError, match=r"layers\[1\]\.multiplier"):
        load(path)


def test_load_rejects_wrong_weights_length(saved):
    path, data = saved
    data["layers"][0]["weights"] = data["layers"][0]["weights"][:-2]
    rewrite(path, data)
    with pytest.raises(ArtifactError, match=r"layers\[0\]\.weights"):
        load(path)


def test_load_rejects_layers_that_do_not_chain(saved):
    path, data = saved
    features = data["features"]
    features["names"], features["shifts"] = features["names"][:-1], features["shifts"][:-1]
    rewrite(path, data)
    with pytest.raises(ArtifactError, match=r"layers\[0\]\.inputs: 7, but the previous stage "
                                            "gives 6"):
        load(path)


def test_load_names_missing_file(tmp_path):
    with pytest.raises(ArtifactError, match="no model file"):
        load(tmp_path / "absent.json")


def spoil(data: dict, where: str, value):
    """Set ``data``'s field at a dotted path (``layers.0.bias.1``) to ``value``."""
    *parents, last = where.split(".")
    for key in parents:
        data = data[int(key)] if isinstance(data, list) else data[key]
    data[int(last) if isinstance(data, list) else last] = value


@pytest.mark.parametrize("where, value, message", [
    # D5: scales are numbers, finite and positive
    ("layers.0.input_scale", "0.5", r"layers\[0\]\.input_scale: expected float, got \"0.5\""),
    ("layers.1.weight_scale", ["1"] * 3, r"layers\[1\]\.weight_scale\[0\]: expected float"),
    ("layers.1.weight_scale", [1.0], r"layers\[1\]\.weight_scale: expected 3 values, got 1"),
    ("layers.0.output_scale", -1.0, r"layers\[0\]\.output_scale: -1.0 is not a positive"),
    # D6: meta is an object, and the keys the tools read have their types
    ("meta", [1, 2], r"meta: expected dict, got \[1, 2\]"),
    ("meta", {"scheme": 3}, r"meta.scheme: expected a dict with a name, got 3"),
    ("meta", {"data": {"symbol": 1}}, r"meta.data.symbol: expected str"),
    # D21: JSON's true and 1.0 are not the integers 1
    ("schema_version", True, "schema_version: file has true"),
    ("schema_version", 2.0, "schema_version: file has 2.0"),
    ("layers.0.bias.0", True, r"layers\[0\]\.bias\[0\]: expected int, got true"),
    ("layers.0.relu", 1, r"layers\[0\]\.relu: expected bool, got 1"),
    ("features.shifts.0", True, r"features.shifts\[0\]: expected int, got true"),
    ("classes", ["down", "down", "up"], "classes: expected distinct"),
])
def test_load_checks_every_field_by_type(saved, where, value, message):
    path, data = saved
    spoil(data, where, value)
    rewrite(path, data)
    with pytest.raises(ArtifactError, match=message) as error:
        load(path)
    assert str(error.value).startswith(f"{path}: ")


@pytest.mark.parametrize("version", [True, 1.0])
def test_a_version_1_file_says_1_exactly(saved, version):
    """D21: a file of the old schema must say ``"version": 1``, not true or 1.0"""
    path, data = saved
    del data["schema_version"]
    rewrite(path, dict(data, version=version))
    with pytest.raises(ArtifactError, match=f"schema_version: file has {json.dumps(version)}"):
        load(path)


def test_load_names_a_file_that_is_not_text(saved):
    path, _ = saved
    path.write_bytes(b'{"format": "fpga-trader/model",\n "meta": "\xff"}')
    with pytest.raises(ArtifactError, match=f"{path} line 2: byte 0xff at column 11"):
        load(path)
