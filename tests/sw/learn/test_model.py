"""The float MLP: gradients, optimizers, determinism, labels and the split."""

import numpy as np
import pytest

from sw.learn.labels import LABELS
from sw.learn.model import (
    FloatMLP,
    class_weights,
    fit,
    loss_and_grad,
    prepare,
)
from sw.spec.features import FeatureSpec


def numeric_gradient(f, p, eps=1e-6):
    grad = np.zeros_like(p)
    for i in np.ndindex(p.shape):
        keep = p[i]
        p[i] = keep + eps
        up = f()
        p[i] = keep - eps
        down = f()
        p[i] = keep
        grad[i] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize("weighted", [False, True])
def test_backward_matches_numeric_gradient(weighted):
    rng = np.random.default_rng(0)
    model = FloatMLP.init([5, 8, 6, 3], seed=1)
    x, y = rng.normal(size=(20, 5)), rng.integers(0, 3, 20)
    weights = np.array([0.5, 1.0, 2.0]) if weighted else None

    def loss():
        return loss_and_grad(model.forward(x), y, weights)[0]

    cache = []
    _, grad = loss_and_grad(model.forward(x, cache=cache), y, weights)
    grads = model.backward(cache, grad)
    for (dw, db), w, b in zip(grads, model.weights, model.biases):
        assert np.allclose(dw, numeric_gradient(loss, w), atol=1e-6)
        assert np.allclose(db, numeric_gradient(loss, b), atol=1e-6)


def separable(seed=0, n=600):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 4))
    y = (x[:, 0] > -0.3).astype(int) + (x[:, 0] > 0.3)
    return x, y


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_optimizers_learn(optimizer, capsys):
    x, y = separable()
    model = FloatMLP.init([4, 16, 3], seed=0)
    history = fit(model, x, y, x_val=x, y_val=y, epochs=40, batch_size=32,
                  optimizer=optimizer, name="toy")
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    assert np.mean(model.predict(x) == y) > 0.9
    assert "[toy] epoch  40/40" in capsys.readouterr().err


def test_fit_is_deterministic_for_a_seed():
    x, y = separable()
    models = [FloatMLP.init([4, 8, 3], seed=3) for _ in range(3)]
    for model, seed in zip(models, (5, 5, 6)):
        fit(model, x, y, epochs=3, seed=seed, progress=False, weighted=True)
    assert all(np.array_equal(a, b) for a, b in zip(models[0].weights, models[1].weights))
    assert not np.array_equal(models[0].weights[0], models[2].weights[0])


def test_class_weights_are_inverse_frequency():
    y = np.array([0, 0, 0, 1, 2, 2])
    assert np.allclose(class_weights(y), [2 / 3, 2, 1])
    # every class carries the same total weight; the mean weight per sample is 1
    assert np.allclose(np.bincount(y) * class_weights(y), len(y) / 3)
    assert class_weights(y)[y].mean() == pytest.approx(1.0)


def test_soft_targets_replace_labels():
    x, y = separable()
    other = (x[:, 1] > 0).astype(int) * 2          # a different rule than the labels
    soft = 0.8 * np.eye(3)[other] + 0.1
    student = FloatMLP.init([4, 8, 3], seed=9)
    fit(student, x, y, epochs=40, batch_size=32, soft=soft, progress=False)
    assert np.mean(student.predict(x) == other) > 0.9


def test_labels_and_chronological_split(klines_5m):
    data = prepare(klines_5m, label="terciles")
    train, val, test = (data.splits[k] for k in ("train", "val", "test"))
    assert train[0] == FeatureSpec().warmup_klines   # warm-up klines excluded
    assert train[-1] < val[0] and val[-1] < test[0]  # chronological, disjoint
    assert test[-1] == len(klines_5m) - 2            # the last kline has no label
    assert data.y[-1] == -1
    assert len(train) / (len(train) + len(val) + len(test)) == pytest.approx(0.7, abs=0.01)
    counts = np.bincount(data.y[train], minlength=3)
    assert counts.max() - counts.min() <= 0.01 * len(train)   # terciles: balanced
    r = LABELS["terciles"].future(klines_5m)
    t1, t2 = data.thresholds
    assert t1 < 0 < t2
    index = test[:500]
    expected = np.where(r[index] <= t1, 0, np.where(r[index] <= t2, 1, 2))
    assert np.array_equal(data.y[index], expected)
    assert np.all(np.abs(data.x_float[train]) <= 1)


def test_prepare_rejects_too_few_klines(klines_5m):
    with pytest.raises(ValueError, match="need at least 30"):
        prepare(klines_5m[:30])
