"""Signals of every precision on one dataset's test klines.

The schemes of the precision report (:mod:`sw.learn.precision`): FP32 and FP16 on the float
features, and each quantized scheme as an integer model (:func:`sw.spec.golden.infer` on the
INT8 feature codes). ``exported`` is the hardware's own signal: :func:`sw.spec.golden.run`,
the whole core from klines to argmax, of the exported scheme's artifact.
"""

from __future__ import annotations

import numpy as np

from sw.learn.model import Dataset
from sw.learn.precision import SCHEMES
from sw.learn.quant import Float16, Scheme, to_integer_model
from sw.learn.train import fit_fp32, quantize_scheme
from sw.spec import golden
from sw.spec.artifact import QuantizedModel
from sw.spec.klines import Klines



def hardware_signal(artifact: QuantizedModel, klines: Klines, index: np.ndarray) -> np.ndarray:
    """What the core emits for klines ``index`` when fed ``klines`` from the first."""
    out = golden.run(artifact, klines)
    if not out.warm[index].all():
        raise ValueError(f"{klines.source}: klines before the model's warm-up "
                         f"({artifact.features.warmup_klines}) cannot be traded")
    return out.signal[index]


def signals(dataset: Dataset, klines: Klines, exported: Scheme, *, hidden, epochs: int,
            seed: int = 0, every_scheme: bool = True, progress: bool = False) -> dict:
    """Train FP32 on the dataset's training split (seed ``seed``) and quantize it; return
    the signal of each scheme on the test split, ``exported`` included. Without
    ``every_scheme``, only FP32 and the exported scheme."""
    index = dataset.splits["test"]
    fp32 = fit_fp32(dataset, hidden, seed, epochs, progress)
    x, codes = dataset.x_float[index], dataset.x_int[index]
    out = {"fp32": fp32.predict(x)}
    if every_scheme:
        out["fp16"] = fp32.predict(x, Float16(len(fp32.weights)))
    for scheme in SCHEMES if every_scheme else (exported,):
        weights, quantizer = quantize_scheme(dataset, fp32, scheme, seed, epochs, progress)
        artifact = to_integer_model(weights, quantizer, dataset.spec)
        out[scheme.name] = golden.infer(artifact, codes)[0]
        if scheme == exported:
            out["exported"] = hardware_signal(artifact, klines, index)
    return out
