"""Train the MLP on klines and quantize it into the model artifact (``python -m sw.train``
is its command line).

Exported schemes (:data:`EXPORT`): ``8`` INT8 weights per-channel PTQ (default) with
power-of-two requantization multipliers (so the hardware requantizes by a shift), ``4``
INT4 weights after QAT, ``1`` binary weights after QAT; activations INT8 throughout. Labels
(``--label``): :data:`sw.learn.labels.LABELS`, all with the classes down / flat / up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sw.learn.labels import DEFAULT_LABEL
from sw.learn.model import CLASSES, FloatMLP, Dataset, fit, prepare
from sw.learn.quant import FakeQuant, Scheme, ptq, qat, to_integer_model
from sw.spec import golden
from sw.spec.artifact import QuantizedModel
from sw.spec.klines import Klines

DEFAULT_HIDDEN = (16,)
DEFAULT_EPOCHS = 30
#: Activation ranges at the 0.5th/99.5th percentiles: clipping the outliers of the final
#: layer keeps its INT8 steps fine enough that few argmaxes tie (chosen on the validation
#: split over 99.0 ... 99.99; min-max is in the precision report for comparison).
PERCENTILE = 99.5
EXPORT = {
    8: Scheme("int8-ptq-per-channel-percentile-pow2", 8, calibration="percentile",
              percentile=PERCENTILE, power_of_two=True),
    4: Scheme("int4-qat", 4, calibration="percentile", percentile=PERCENTILE, qat=True),
    1: Scheme("binary-qat", 1, calibration="percentile", percentile=PERCENTILE, qat=True),
}


@dataclass
class Trained:
    """Everything a training run produced: the data, the FP32 model, and the exported
    scheme as float weights + fake-quant quantizer + integer artifact."""
    dataset: Dataset
    fp32: FloatMLP
    weights: FloatMLP
    quantizer: FakeQuant
    artifact: QuantizedModel
    epochs: int
    seed: int


def qat_epochs(epochs: int) -> int:
    return max(epochs // 3, 1)


def fit_fp32(dataset: Dataset, hidden=DEFAULT_HIDDEN, seed=0, epochs=DEFAULT_EPOCHS,
             progress=True) -> FloatMLP:
    x, y = dataset.part("train")
    x_val, y_val = dataset.part("val")
    model = FloatMLP.init([x.shape[1], *hidden, len(CLASSES)], seed)
    fit(model, x, y, x_val=x_val, y_val=y_val, epochs=epochs, seed=seed, progress=progress)
    return model


def quantize_scheme(dataset: Dataset, fp32: FloatMLP, scheme: Scheme, seed=0,
                    epochs=DEFAULT_EPOCHS, progress=True) -> tuple[FloatMLP, FakeQuant]:
    """PTQ or QAT of ``fp32`` with the training split as calibration set."""
    x, y = dataset.part("train")
    if scheme.qat:
        return qat(fp32, scheme, x, y, x_val=dataset.part("val")[0], epochs=qat_epochs(epochs),
                   seed=seed, progress=progress)
    return fp32, ptq(fp32, scheme, x)


def test_accuracy(dataset: Dataset, artifact: QuantizedModel) -> float:
    index = dataset.splits["test"]
    signal, _ = golden.infer(artifact, dataset.x_int[index])
    return float(np.mean(signal == dataset.y[index]))


def train(klines: Klines, hidden=DEFAULT_HIDDEN, weight_bits=8, seed=0, epochs=None,
          progress=True, label=DEFAULT_LABEL) -> Trained:
    if weight_bits not in EXPORT:
        raise ValueError(f"weight_bits {weight_bits!r} is not one of {tuple(EXPORT)}")
    if not hidden or min(hidden) < 1:
        raise ValueError(f"hidden {hidden!r}: give one or more positive layer sizes")
    epochs = epochs or DEFAULT_EPOCHS
    dataset = prepare(klines, label=label)
    fp32 = fit_fp32(dataset, hidden, seed, epochs, progress)
    scheme = EXPORT[weight_bits]
    weights, quantizer = quantize_scheme(dataset, fp32, scheme, seed, epochs, progress)
    x_test, y_test = dataset.part("test")
    meta = {
        "data": {"source": klines.source, "synthetic": bool(klines.synthetic),
                 "symbol": klines.instrument.symbol, "category": klines.instrument.category,
                 "interval": klines.interval, "klines": len(klines)},
        "label": dataset.label.to_json(dataset.thresholds),
        "split": dataset.sizes(),
        "training": {"hidden": list(hidden), "epochs": epochs, "seed": seed,
                     "optimizer": "adam"},
        "fp32_test_accuracy": float(np.mean(fp32.predict(x_test) == y_test)),
    }
    artifact = to_integer_model(weights, quantizer, dataset.spec, CLASSES, meta)
    artifact.meta["test_accuracy"] = test_accuracy(dataset, artifact)
    return Trained(dataset, fp32, weights, quantizer, artifact, epochs, seed)


def train_model(klines: Klines, hidden=DEFAULT_HIDDEN, weight_bits=8, seed=0, epochs=None,
                progress=True, label=DEFAULT_LABEL) -> QuantizedModel:
    """Train, quantize and return the integer model (the artifact, not yet saved)."""
    return train(klines, tuple(hidden), weight_bits, seed, epochs, progress, label).artifact
