"""The model artifact: the only interface between ``sw`` and ``hw``.

A versioned JSON file (``build/model/model.json``, keys in :mod:`sw.spec.schema`) holding
everything the hardware needs: the feature specification, and per layer the integer
weights (packed), INT32 biases with the input zero-point folded in, per-channel
requantization multipliers and shifts, the output zero-point and whether ReLU is fused.
Float scales ride along for reference only; integer inference (:mod:`sw.spec.golden`)
never reads them.

:func:`load` validates every field and raises :class:`ArtifactError` naming the one that
is wrong.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sw.spec import packing, schema
from sw.spec.features import FeatureSpec
from sw.spec.files import NotText, atomic_write, read_text

#: The signal's classes, in the order of the final layer's outputs.
CLASSES = ("down", "flat", "up")
FORMAT = "fpga-trader/model"
#: Artifact files of schema version 1 had ``"version": 1`` and may name their scheme by a
#: plain string; :func:`from_json` still reads them.
LEGACY_VERSION = 1
INT32 = (-2 ** 31, 2 ** 31 - 1)
#: Requantization multiplier is an unsigned 15-bit integer, the shift in [1, MAX_REQUANT_SHIFT].
MULTIPLIER_BITS = 15
MAX_REQUANT_SHIFT = 46


class ArtifactError(ValueError):
    """A model file that is missing, truncated, of another version or out of range."""


@dataclass
class QuantizedLayer:
    """One dense layer, all integers (see :func:`sw.spec.golden.dense` for the arithmetic)."""
    weights: np.ndarray          # [outputs, inputs] int codes
    bias: np.ndarray             # [outputs] INT32, input zero-point folded in
    multiplier: np.ndarray       # [outputs] in [0, 2**15)
    shift: np.ndarray            # [outputs] in [1, 46]
    output_zero_point: int
    relu: bool
    weight_bits: int = 8
    # float scales, for reference and reports only
    input_scale: float = 1.0
    weight_scale: np.ndarray = field(default_factory=lambda: np.ones(1))
    output_scale: float = 1.0

    @property
    def inputs(self) -> int:
        return self.weights.shape[1]

    @property
    def outputs(self) -> int:
        return self.weights.shape[0]

    @property
    def output_min(self) -> int:
        """Lowest output code: ReLU is a clamp at the zero-point."""
        return self.output_zero_point if self.relu else -128


@dataclass
class QuantizedModel:
    features: FeatureSpec
    layers: list
    classes: tuple = CLASSES
    meta: dict = field(default_factory=dict)   # scheme, data source, synthetic flag, label

    @property
    def weight_bytes(self) -> int:
        return sum(packing.packed_size(l.weights.size, l.weight_bits) for l in self.layers)


def to_json(model: QuantizedModel) -> dict:
    return {
        "format": FORMAT,
        "schema_version": schema.ARTIFACT,
        "features": model.features.to_json(),
        "classes": list(model.classes),
        "layers": [{
            "inputs": l.inputs,
            "outputs": l.outputs,
            "weight_bits": l.weight_bits,
            "weights": packing.pack(l.weights, l.weight_bits).hex(),
            "bias": [int(b) for b in l.bias],
            "multiplier": [int(m) for m in l.multiplier],
            "shift": [int(s) for s in l.shift],
            "output_zero_point": int(l.output_zero_point),
            "relu": bool(l.relu),
            "input_scale": float(l.input_scale),
            "weight_scale": [float(s) for s in np.broadcast_to(l.weight_scale, (l.outputs,))],
            "output_scale": float(l.output_scale),
        } for l in model.layers],
        "meta": model.meta,
    }


def save(model: QuantizedModel, path) -> Path:
    """Write atomically: a reader never sees a half-written artifact."""
    path = Path(path)
    if path.suffix != ".json":
        path = path / "model.json"
    validate(model)
    with atomic_write(path) as handle:
        json.dump(to_json(model), handle, indent=1)
    return path


def load(path) -> QuantizedModel:
    """Read and validate a model file (or a directory holding ``model.json``)."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.json"
    if not path.is_file():
        raise ArtifactError(f"{path}: no model file (run `python -m sw.train` first)")
    try:
        data = json.loads(read_text(path))
    except NotText as error:
        raise ArtifactError(f"{error}: not a model file") from None
    except json.JSONDecodeError as error:
        raise ArtifactError(f"{path}: not a complete JSON model file ({error})") from None
    try:
        return from_json(data)
    except ArtifactError as error:
        raise ArtifactError(f"{path}: {error}") from None


def from_json(data) -> QuantizedModel:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ArtifactError(f"format: expected {FORMAT!r}")
    legacy = "schema_version" not in data and exactly(data.get("version"), LEGACY_VERSION)
    if not legacy and not exactly(data.get("schema_version"), schema.ARTIFACT):
        found = data.get("schema_version", data.get("version"))
        raise ArtifactError(f"schema_version: file has {json.dumps(found)}, this toolkit reads "
                            f"{schema.ARTIFACT} (and version {LEGACY_VERSION} files)")
    features = features_from_json(need(data, "features", dict))
    classes = need(data, "classes", list)
    if not all(isinstance(name, str) and name for name in classes) or \
            len(set(classes)) != len(classes):
        raise ArtifactError("classes: expected distinct non-empty names")
    layers = [layer_from_json(raw, f"layers[{i}]")
              for i, raw in enumerate(need(data, "layers", list))]
    model = QuantizedModel(features, layers, tuple(classes), meta_from_json(data))
    validate(model)
    return model


def exactly(value, number: int) -> bool:
    """``value`` is the JSON integer ``number`` (not ``true``, not ``1.0``)."""
    return type(value) is int and value == number


def need(data: dict, key: str, kind, where: str = ""):
    """``data[key]``, of type ``kind`` (an ``int`` is never a bool, a ``float`` may be an
    ``int``; a float must be finite)."""
    if not isinstance(data, dict) or key not in data:
        raise ArtifactError(f"{where}{key}: missing")
    return typed(data[key], kind, f"{where}{key}")


def typed(value, kind, where: str):
    kinds = (int, float) if kind is float else kind
    if not isinstance(value, kinds) or isinstance(value, bool) and kind is not bool:
        raise ArtifactError(f"{where}: expected {kind.__name__}, got {json.dumps(value)}")
    if kind is float and not math.isfinite(value):
        raise ArtifactError(f"{where}: expected a finite number, got {value}")
    return value


def features_from_json(raw: dict) -> FeatureSpec:
    at = "features."
    names = need(raw, "names", list, at)
    shifts = need(raw, "shifts", list, at)
    for i, name in enumerate(names):
        typed(name, str, f"{at}names[{i}]")
    for i, shift in enumerate(shifts):
        typed(shift, int, f"{at}shifts[{i}]")
    try:
        return FeatureSpec(tuple(names), tuple(shifts), need(raw, "volume_window", int, at))
    except ValueError as error:
        raise ArtifactError(str(error)) from None


def meta_from_json(data: dict) -> dict:
    """``meta``: an object whose keys the tools read have their types (``scheme`` an
    object with a ``name``, or an older file's plain name; ``data`` an object with string
    ``symbol``, ``category`` and ``interval`` and a boolean ``synthetic``)."""
    meta = dict(typed(data.get("meta", {}), dict, "meta"))
    if "scheme" in meta:
        try:
            meta["scheme"] = schema.scheme(meta["scheme"])
        except schema.SchemaError as error:
            raise ArtifactError(f"meta.{error}") from None
    about = typed(meta.get("data", {}), dict, "meta.data")
    for key, kind in (("symbol", str), ("category", str), ("interval", str),
                      ("synthetic", bool)):
        if key in about:
            typed(about[key], kind, f"meta.data.{key}")
    return meta


def layer_from_json(raw: dict, where: str) -> QuantizedLayer:
    """One layer as the file has it; how the layers chain is :func:`validate`'s check."""
    at = where + "."
    typed(raw, dict, where)
    n_in, n_out = need(raw, "inputs", int, at), need(raw, "outputs", int, at)
    if n_in < 1 or n_out < 1:
        raise ArtifactError(f"{at}inputs, outputs: {n_in}, {n_out}; both must be at least 1")
    bits = need(raw, "weight_bits", int, at)
    if bits not in packing.WEIGHT_BITS:
        raise ArtifactError(f"{at}weight_bits: {bits} is not one of {packing.WEIGHT_BITS}")
    try:
        blob = bytes.fromhex(need(raw, "weights", str, at))
        weights = packing.unpack(blob, bits, n_in * n_out).reshape(n_out, n_in)
    except ValueError as error:
        raise ArtifactError(f"{at}weights: {error}") from None

    def vector(key, kind=int, default=None):
        values = need(raw, key, list, at) if default is None else raw.get(key, default)
        typed(values, list, f"{at}{key}")
        if len(values) != n_out:
            raise ArtifactError(f"{at}{key}: expected {n_out} values, got {len(values)}")
        for i, value in enumerate(values):
            typed(value, kind, f"{at}{key}[{i}]")
        return np.array(values, dtype=np.int64 if kind is int else float)

    def scale(key):
        value = need(raw, key, float, at) if key in raw else 1.0
        if value <= 0:
            raise ArtifactError(f"{at}{key}: {value} is not a positive scale")
        return float(value)

    weight_scale = vector("weight_scale", float, [1.0] * n_out)
    if (weight_scale <= 0).any():
        raise ArtifactError(f"{at}weight_scale: scales must be positive")
    return QuantizedLayer(
        weights=weights, bias=vector("bias"), multiplier=vector("multiplier"),
        shift=vector("shift"), output_zero_point=need(raw, "output_zero_point", int, at),
        relu=need(raw, "relu", bool, at), weight_bits=bits, input_scale=scale("input_scale"),
        weight_scale=weight_scale, output_scale=scale("output_scale"))


def validate(model: QuantizedModel) -> None:
    """Range checks shared by :func:`save` and :func:`load`."""
    if not model.layers:
        raise ArtifactError("layers: a model needs at least one layer")
    if len(model.classes) != model.layers[-1].outputs or len(model.classes) < 2:
        raise ArtifactError(f"classes: {len(model.classes)} names for "
                            f"{model.layers[-1].outputs} outputs of the last layer")
    inputs = len(model.features.names)
    for i, l in enumerate(model.layers):
        at = f"layers[{i}]."
        if l.inputs != inputs:
            raise ArtifactError(f"{at}inputs: {l.inputs}, but the previous stage gives {inputs}")
        inputs = l.outputs
        try:
            packing.check_codes(l.weights, l.weight_bits)
        except ValueError as error:
            raise ArtifactError(f"{at}weights: {error}") from None
        checks = [
            ("bias", l.bias, *INT32),
            ("multiplier", l.multiplier, 0, 2 ** MULTIPLIER_BITS - 1),
            ("shift", l.shift, 1, MAX_REQUANT_SHIFT),
            ("output_zero_point", np.array([l.output_zero_point]), -128, 127),
        ]
        for name, values, low, high in checks:
            values = np.asarray(values)
            if values.shape[-1:] != (l.outputs,) and name != "output_zero_point":
                raise ArtifactError(f"{at}{name}: expected {l.outputs} values")
            if values.min() < low or values.max() > high:
                raise ArtifactError(f"{at}{name}: values must lie in [{low}, {high}], "
                                    f"got [{values.min()}, {values.max()}]")


def random_model(rng: np.random.Generator, features: FeatureSpec | None = None,
                 hidden=(16,), classes: int = 3, weight_bits: int = 8) -> QuantizedModel:
    """A model with random but well-scaled integers, for tests and hardware bring-up."""
    features = features or FeatureSpec()
    sizes = [len(features.names), *hidden, classes]
    low, high = packing.WEIGHT_RANGE[weight_bits]
    layers = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        if weight_bits == 1:
            weights = rng.choice([-1, 1], size=(n_out, n_in))
        else:
            weights = rng.integers(low, high + 1, size=(n_out, n_in))
        last = len(layers) == len(sizes) - 2
        # typical |acc| for activations of about +-40; scale that to about +-40 again
        typical = np.sqrt(n_in) * 40 * max(high, 1) / np.sqrt(3)
        shift = int(np.log2(typical * 2 ** 14.5 / 40))
        layers.append(QuantizedLayer(
            weights=weights,
            bias=rng.integers(-int(typical), int(typical) + 1, size=n_out),
            multiplier=rng.integers(2 ** 14, 2 ** 15, size=n_out),
            shift=np.full(n_out, shift) + rng.integers(-1, 2, n_out),
            output_zero_point=0 if last else int(rng.integers(-128, 1)), relu=not last,
            weight_bits=weight_bits))
    names = CLASSES if classes == len(CLASSES) else tuple(f"class{i}" for i in range(classes))
    return QuantizedModel(features, layers, names, {"scheme": {"name": "random"}})
