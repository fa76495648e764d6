"""The float model: a NumPy MLP trained to call what follows a kline (down, flat or up).

Label: one of :data:`sw.learn.labels.LABELS` (default
:data:`~sw.learn.labels.DEFAULT_LABEL`), three classes down / flat / up of a return after
kline ``t``, its thresholds fitted on the training split. The last klines have no label.

Split (:func:`prepare`): the klines that are warm (every feature has its history) and
labelled are cut chronologically into train / validation / test (70/15/15). A label over
``h`` candles drops the last ``h - 1`` klines of train and of validation, whose labels
would be known only after the next part's first kline (a purge; none for ``h = 1``).
Unless a spec is given, the feature gains are calibrated
(:func:`sw.spec.features.calibrate`) on the klines the training part is computed from:
every kline from the first (warm-up klines included, for the features they define) up to
the last training kline ``t``, and kline ``t + 1``, which the training labels reach. Kline
``t + 1`` comes before the validation part or is its first kline, so no later kline takes
part in the calibration.

The network (:class:`FloatMLP`) is ReLU hidden layers and a linear output trained with softmax
cross-entropy, Adam or SGD with momentum, on shuffled mini-batches, deterministic for a
seed. A *quantizer* (see :mod:`sw.learn.quant`) can be plugged into the forward pass: it replaces
the input, the weights and the activations by their fake-quantized values and supplies the
straight-through-estimator masks the backward pass multiplies the gradients with.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass

import numpy as np

from sw.learn.labels import DEFAULT_LABEL, LABELS, Label, classes
from sw.spec.artifact import CLASSES
from sw.spec.features import (
    FEATURE_LIMIT,
    FeatureSpec,
    calibrate,
    features_float,
    features_int,
    warm,
)
from sw.spec.klines import Klines

SPLIT = (0.70, 0.15, 0.15)


@dataclass
class Dataset:
    """Features, labels and chronological split of one kline series."""
    spec: FeatureSpec
    x_float: np.ndarray      # [n, features] float reference in [-1, 1]
    x_int: np.ndarray        # [n, features] INT8 codes (the integer spec)
    y: np.ndarray            # [n] class index, -1 where there is no label
    splits: dict             # name -> kline indices, oldest first
    thresholds: tuple        # (t1, t2) on the label's return
    label: Label = LABELS[DEFAULT_LABEL]
    source: str = ""
    synthetic: bool = False

    def part(self, name: str, integer: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of a split; ``integer`` gives the INT8 codes as floats
        ``code / FEATURE_LIMIT`` (their real value at the input scale ``1/127``)."""
        index = self.splits[name]
        x = self.x_int[index] / FEATURE_LIMIT if integer else self.x_float[index]
        return x, self.y[index]

    def sizes(self) -> dict:
        return {name: int(len(index)) for name, index in self.splits.items()}


class DataError(ValueError):
    """Klines that cannot train a model; the message says why."""


def prepare(klines: Klines, spec: FeatureSpec | None = None, split=SPLIT,
            label: Label | str = DEFAULT_LABEL) -> Dataset:
    """Features, labels and the chronological split (proportions ``split``) of ``klines``;
    :class:`DataError` when they are too few or make a single class."""
    label = LABELS[label] if isinstance(label, str) else label
    source = klines.source or "klines"
    usable = np.flatnonzero(warm(klines, spec or FeatureSpec()) & ~np.isnan(label.future(klines)))
    if len(usable) < 30:
        raise DataError(f"{source}: {len(klines)} klines leave {len(usable)} warm labelled "
                        "ones; need at least 30")
    ends = np.cumsum(np.round(np.array(split) / sum(split) * len(usable)).astype(int))
    return split_dataset(klines, *np.split(usable, ends[:2]), spec=spec, label=label)


def split_dataset(klines: Klines, train: np.ndarray, val: np.ndarray, test: np.ndarray,
                  spec: FeatureSpec | None = None, label: Label = LABELS[DEFAULT_LABEL]
                  ) -> Dataset:
    """Features and labels of ``klines`` with a given chronological split (kline indices,
    warm; train and validation labelled): the purge, the feature gains (unless ``spec``)
    and the label thresholds as the module docstring says."""
    if len(val) and len(test):
        train, val = train[train + label.horizon <= val[0]], val[val + label.horizon <= test[0]]
    r = label.future(klines)
    thresholds = label.fit(r[train])
    check_labels(klines.source or "klines", label, r[train], thresholds)
    if spec is None:   # klines 0 .. train[-1] + 1: see the module docstring
        spec = calibrate(klines[:int(train[-1]) + 2])
    return Dataset(spec, features_float(klines, spec), features_int(klines, spec),
                   classes(r, thresholds), {"train": train, "val": val, "test": test},
                   thresholds, label, klines.source, klines.synthetic)


def check_labels(source: str, label: Label, r_train: np.ndarray, thresholds) -> None:
    """The training split must make more than one class, or there is nothing to learn
    (constant prices make one: every return is 0)."""
    made = np.unique(classes(r_train, thresholds))
    if len(made) > 1:
        return
    values = np.unique(r_train)
    why = (f"its return is {values[0]:g} for every training kline (constant prices?)"
           if len(values) == 1 else
           f"its {len(values)} distinct returns on the training klines, "
           f"{values[0]:.3g} .. {values[-1]:.3g}, all fall between the same thresholds "
           f"({thresholds[0]:.3g}, {thresholds[1]:.3g})")
    raise DataError(f"{source}: cannot make the {label.name} labels: {why}, so every "
                    f"training kline is {CLASSES[made[0]]!r}")


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def class_weights(y: np.ndarray, classes: int = len(CLASSES)) -> np.ndarray:
    """Per-class weight ``len(y) / (classes * count)`` (inverse class frequency): every
    class that occurs carries the same total weight, and when all ``classes`` occur the
    weight per *sample* averages 1. A class absent from ``y`` counts as seen once."""
    counts = np.bincount(y, minlength=classes)
    return len(y) / (classes * np.maximum(counts, 1))


class FloatMLP:
    """Dense layers ``[outputs, inputs]`` with ReLU between them and a linear output."""

    def __init__(self, weights: list, biases: list):
        self.weights = [np.asarray(w, dtype=float) for w in weights]
        self.biases = [np.asarray(b, dtype=float) for b in biases]

    @classmethod
    def init(cls, sizes, seed: int = 0) -> "FloatMLP":
        """He-normal weights, zero biases."""
        rng = np.random.default_rng(seed)
        weights = [rng.normal(0, np.sqrt(2 / n_in), (n_out, n_in))
                   for n_in, n_out in zip(sizes, sizes[1:])]
        return cls(weights, [np.zeros(n_out) for n_out in sizes[1:]])

    @property
    def sizes(self) -> list:
        return [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]

    def copy(self) -> "FloatMLP":
        return copy.deepcopy(self)

    def forward(self, x: np.ndarray, quantizer=None, cache: list | None = None) -> np.ndarray:
        """Logits ``[n, classes]``; with ``cache`` a list, keeps what :meth:`backward` needs."""
        a = quantizer.input(x) if quantizer else x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if quantizer:
                w, b, weight_mask = quantizer.weights(i, w, b)
            else:
                weight_mask = None
            z = a @ w.T + b
            if quantizer:
                out, mask = quantizer.activation(i, z)
            elif i < last:
                out, mask = np.maximum(z, 0), z > 0
            else:
                out, mask = z, None
            if cache is not None:
                cache.append((a, w, weight_mask, mask))
            a = out
        return a

    def backward(self, cache: list, grad: np.ndarray) -> list:
        """Gradients ``[(dW, db), ...]`` from the gradient of the loss w.r.t. the logits.

        The masks are the straight-through estimator: 1 where a fake-quant node passes the
        gradient (inside its range), 0 where it clips."""
        grads = []
        for a, w, weight_mask, mask in reversed(cache):
            if mask is not None:
                grad = grad * mask
            dw = grad.T @ a
            if weight_mask is not None:
                dw = dw * weight_mask
            grads.append((dw, grad.sum(axis=0)))
            grad = grad @ w
        return grads[::-1]

    def predict(self, x: np.ndarray, quantizer=None) -> np.ndarray:
        return np.argmax(self.forward(x, quantizer), axis=1)


def loss_and_grad(logits, y=None, weights=None, soft=None):
    """Softmax cross-entropy (class-weighted for hard labels ``y``, or against the soft
    targets ``soft``) and its gradient w.r.t. the logits."""
    p = softmax(logits)
    if soft is None:
        soft = np.eye(logits.shape[1])[y]
    w = np.ones(len(logits)) if weights is None or y is None else weights[y]
    w = w / w.sum()
    loss = -np.sum(w * np.sum(soft * np.log(p + 1e-12), axis=1))
    return loss, (p - soft) * w[:, None]


class Adam:
    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m = self.v = None
        self.t = 0

    def step(self, params: list, grads: list) -> None:
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        self.t += 1
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * g * g
            m_hat = m / (1 - self.beta1 ** self.t)
            v_hat = v / (1 - self.beta2 ** self.t)
            p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class SGD:
    def __init__(self, lr=1e-2, momentum=0.9):
        self.lr, self.momentum = lr, momentum
        self.velocity = None

    def step(self, params: list, grads: list) -> None:
        if self.velocity is None:
            self.velocity = [np.zeros_like(p) for p in params]
        for p, g, v in zip(params, grads, self.velocity):
            v *= self.momentum
            v -= self.lr * g
            p += v


OPTIMIZERS = {"adam": Adam, "sgd": SGD}


def fit(model: FloatMLP, x, y, *, x_val=None, y_val=None, epochs=20, batch_size=256,
        optimizer="adam", lr=None, cosine=False, weighted=False, soft=None, quantizer=None,
        score=None, seed=0, progress=True, name="fp32") -> list:
    """Train ``model`` in place; return the per-epoch history.

    ``soft`` (``[n, classes]``) trains against soft targets (distillation) instead of ``y``;
    ``cosine`` decays the learning rate to 0 over the run. With a validation set, the weights
    of the epoch with the best ``score(model)`` (default: the lowest validation loss) are
    kept. Progress goes to stderr, one line per epoch.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer {optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
    rng = np.random.default_rng(seed)
    opt = OPTIMIZERS[optimizer](**({"lr": lr} if lr else {}))
    base_lr, steps, step = opt.lr, epochs * -(-len(x) // batch_size), 0
    weights = class_weights(y) if weighted else None
    history, best, best_score = [], None, -np.inf
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x))
        total = 0.0
        for start in range(0, len(x), batch_size):
            if cosine:
                opt.lr = base_lr * 0.5 * (1 + np.cos(np.pi * step / steps))
                step += 1
            batch = order[start:start + batch_size]
            cache = []
            logits = model.forward(x[batch], quantizer, cache)
            loss, grad = loss_and_grad(logits, y[batch], weights,
                                       None if soft is None else soft[batch])
            total += loss * len(batch)
            grads = model.backward(cache, grad)
            opt.step(model.weights + model.biases, [g[0] for g in grads] + [g[1] for g in grads])
        record = {"epoch": epoch, "loss": total / len(x)}
        if x_val is not None:
            logits = model.forward(x_val, quantizer)
            record["val_loss"] = float(loss_and_grad(logits, y_val)[0])
            record["val_accuracy"] = float(np.mean(np.argmax(logits, axis=1) == y_val))
            record["score"] = score(model) if score else -record["val_loss"]
            if record["score"] > best_score:
                best, best_score = model.copy(), record["score"]
        history.append(record)
        if progress:
            extra = (f"  val loss {record['val_loss']:.4f}  val acc {record['val_accuracy']:.3f}"
                     if x_val is not None else "")
            extra += f"  score {record['score']:.4f}" if score else ""
            # one write: an interrupt cannot leave the line without its newline
            sys.stderr.write(f"[{name}] epoch {epoch:3d}/{epochs}  loss {record['loss']:.4f}"
                             f"{extra}\n")
            sys.stderr.flush()
    if best is not None:
        model.weights, model.biases = best.weights, best.biases
    return history
