"""Train the MLP on recorded klines, quantize it, write the artifact and the precision report.

    python -m sw.train --data ../shared/data/bybit/BTCUSDT_linear_5m.csv \\
        [--out build/model] [--reports build/reports] [--hidden 16] \\
        [--weight-bits 8|4|1] [--epochs N] [--seed S]

Exported schemes (:data:`EXPORT`): ``8`` INT8 weights per-channel PTQ (default) with
power-of-two requantization multipliers (so the hardware requantizes by a shift), ``4``
INT4 weights after QAT, ``1`` binary weights after QAT; activations INT8 throughout.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sw.data.load import load
from sw.learn.model import CLASSES, LABEL, MLP, Dataset, fit, prepare
from sw.learn.quant import FakeQuant, Scheme, ptq, qat, to_integer_model
from sw.spec import golden
from sw.spec.artifact import ArtifactError, QuantizedModel, save
from sw.spec.klines import KlineError, Klines

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
    fp32: MLP
    weights: MLP
    quantizer: FakeQuant
    artifact: QuantizedModel
    epochs: int
    seed: int


def qat_epochs(epochs: int) -> int:
    return max(epochs // 3, 1)


def fit_fp32(dataset: Dataset, hidden=DEFAULT_HIDDEN, seed=0, epochs=DEFAULT_EPOCHS,
             progress=True) -> MLP:
    x, y = dataset.part("train")
    x_val, y_val = dataset.part("val")
    model = MLP.init([x.shape[1], *hidden, len(CLASSES)], seed)
    fit(model, x, y, x_val=x_val, y_val=y_val, epochs=epochs, seed=seed, progress=progress)
    return model


def quantize_scheme(dataset: Dataset, fp32: MLP, scheme: Scheme, seed=0,
                    epochs=DEFAULT_EPOCHS, progress=True) -> tuple[MLP, FakeQuant]:
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
          progress=True) -> Trained:
    if weight_bits not in EXPORT:
        raise ValueError(f"weight_bits {weight_bits!r} is not one of {tuple(EXPORT)}")
    if not hidden or min(hidden) < 1:
        raise ValueError(f"hidden {hidden!r}: give one or more positive layer sizes")
    epochs = epochs or DEFAULT_EPOCHS
    dataset = prepare(klines)
    fp32 = fit_fp32(dataset, hidden, seed, epochs, progress)
    scheme = EXPORT[weight_bits]
    weights, quantizer = quantize_scheme(dataset, fp32, scheme, seed, epochs, progress)
    x_test, y_test = dataset.part("test")
    meta = {
        "data": {"source": klines.source, "synthetic": bool(klines.synthetic),
                 "symbol": klines.instrument.symbol, "category": klines.instrument.category,
                 "interval": klines.interval, "klines": len(klines)},
        "label": {"definition": LABEL, "thresholds": list(dataset.thresholds)},
        "split": dataset.sizes(),
        "training": {"hidden": list(hidden), "epochs": epochs, "seed": seed,
                     "optimizer": "adam"},
        "fp32_test_accuracy": float(np.mean(fp32.predict(x_test) == y_test)),
    }
    artifact = to_integer_model(weights, quantizer, dataset.spec, CLASSES, meta)
    artifact.meta["test_accuracy"] = test_accuracy(dataset, artifact)
    return Trained(dataset, fp32, weights, quantizer, artifact, epochs, seed)


def train_model(klines: Klines, hidden=DEFAULT_HIDDEN, weight_bits=8, seed=0, epochs=None,
                progress=True) -> QuantizedModel:
    """Train, quantize and return the integer model (the artifact, not yet saved)."""
    return train(klines, tuple(hidden), weight_bits, seed, epochs, progress).artifact


def parse_hidden(text: str) -> tuple:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of "
                                         "layer sizes") from None
    if min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: layer sizes must be positive")
    return sizes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sw.train", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="kline file (CSV or v5 JSON response)")
    parser.add_argument("--out", default="build/model", help="artifact directory")
    parser.add_argument("--reports", default="build/reports", help="precision report directory")
    parser.add_argument("--hidden", type=parse_hidden, default=DEFAULT_HIDDEN,
                        help="hidden layer sizes, e.g. 16 or 32,16 (default 16)")
    parser.add_argument("--weight-bits", type=int, choices=sorted(EXPORT), default=8)
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    from sw.learn import precision
    try:
        klines = load(args.data)
        trained = train(klines, args.hidden, args.weight_bits, args.seed, args.epochs)
        path = save(trained.artifact, Path(args.out) / "model.json")
        report = precision.write(precision.measure(trained), args.reports)
    except (KlineError, ArtifactError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    meta = trained.artifact.meta
    print(f"model: {path} ({meta['scheme']['name']}, test accuracy "
          f"{meta['test_accuracy']:.3f}, FP32 {meta['fp32_test_accuracy']:.3f})")
    print(f"precision report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
