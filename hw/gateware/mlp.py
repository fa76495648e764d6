"""The quantized MLP: Dense layers chained by streams."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.gateware.dense import Dense, mac_lanes
from hw.gateware.layouts import features_layout, signal_layout
from sw.spec.artifact import QuantizedModel


def in_series(m: Module, source, stages: list, sink):
    """Connect ``source -> stages[0] -> ... -> stages[-1] -> sink``, no register between:
    each stage's first logic takes the previous stage's output register."""
    for stage in stages:
        wiring.connect(m, source, stage.i)
        source = stage.o
    wiring.connect(m, source, sink)


def check_multipliers(model: QuantizedModel, multipliers) -> tuple:
    """MAC lanes per layer (``None``: all fully parallel), checked before any hardware is
    made; a ValueError naming the layer otherwise."""
    layers = model.layers
    multipliers = (None,) * len(layers) if multipliers is None else tuple(multipliers)
    if len(multipliers) != len(layers):
        raise ValueError(f"multipliers: {len(multipliers)} values for a model of "
                         f"{len(layers)} layers")
    for index, (layer, lanes) in enumerate(zip(layers, multipliers)):
        try:
            mac_lanes(layer, lanes)
        except ValueError as error:
            raise ValueError(f"layer {index}: {error}") from None
    return multipliers


class MLP(wiring.Component):
    """All layers of ``model``: INT8 feature codes in, the final layer's INT8 outputs out,
    bit-exact with :func:`sw.spec.golden.infer`; with ``argmax``, their argmax too (the
    signal, decided in the last layer's last stage: :func:`hw.gateware.layouts.signal_layout`).
    ``warm`` rides along.

    The layers follow each other with no register between them; latency is the sum of the
    layers' latencies, ``ii`` the largest layer ``ii``.

    Parameters
    ----------
    model : sw.spec.artifact.QuantizedModel
    multipliers : tuple of (int or None), optional
        MAC lanes per layer (:class:`hw.gateware.dense.Dense`); ``None`` (default) fully parallel.
    argmax : bool

    Members
    -------
    i : In(stream.Signature(features_layout(features)))
    o : Out(stream.Signature(features_layout(classes) or signal_layout(classes)))
    """

    def __init__(self, model: QuantizedModel, multipliers=None, *, argmax: bool = False):
        layers = model.layers
        multipliers = check_multipliers(model, multipliers)
        last = len(layers) - 1
        self.layers = [Dense(layer, lanes, argmax=argmax and index == last)
                       for index, (layer, lanes) in enumerate(zip(layers, multipliers))]
        output = signal_layout if argmax else features_layout
        super().__init__({
            "i": In(stream.Signature(features_layout(layers[0].inputs))),
            "o": Out(stream.Signature(output(layers[-1].outputs))),
        })

    @property
    def latency(self) -> int:
        return sum(layer.latency for layer in self.layers)

    @property
    def ii(self) -> int:
        return max(layer.ii for layer in self.layers)

    def elaborate(self, platform):
        m = Module()
        for index, layer in enumerate(self.layers):
            m.submodules[f"layer{index}"] = layer
        in_series(m, wiring.flipped(self.i), self.layers, wiring.flipped(self.o))
        return m
