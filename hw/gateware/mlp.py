"""The quantized MLP: Dense layers chained by streams."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.gateware.dense import check_lanes, dense_layer, streams_clamp
from hw.gateware.layouts import codes_layout, signal_layout
from sw.spec.artifact import QuantizedModel


def in_series(m: Module, source, stages: list, sink):
    """Connect ``source -> stages[0] -> ... -> stages[-1] -> sink``, no register between:
    each stage's first logic takes the previous stage's output register."""
    for stage in stages:
        wiring.connect(m, source, stage.i)
        source = stage.o
    wiring.connect(m, source, sink)


def lanes_per_layer(model: QuantizedModel, lanes) -> tuple:
    """MAC lanes per layer (``None``: all fully parallel), checked before any hardware is
    made (:func:`hw.gateware.dense.check_lanes`); a ValueError naming the layer otherwise."""
    layers = model.layers
    lanes = (None,) * len(layers) if lanes is None else tuple(lanes)
    if len(lanes) != len(layers):
        raise ValueError(f"lanes: {len(lanes)} values for a model of {len(layers)} layers")
    for index, (layer, count) in enumerate(zip(layers, lanes)):
        try:
            check_lanes(layer, count)
        except ValueError as error:
            raise ValueError(f"layer {index}: {error}") from None
    return lanes


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
    lanes : tuple of (int or None), optional
        MAC lanes per layer (:func:`hw.gateware.dense.dense_layer`); ``None`` (default) fully
        parallel.
    argmax : bool
    input_levels : int
        Logic levels in front of ``i.payload`` (see :class:`hw.gateware.dense.Dense`).
    input_copies : list of Value
        Copies of ``i.payload.codes`` for the first layer to share out
        (:class:`hw.gateware.dense.ParallelDense`).

    Members
    -------
    i : In(stream.Signature(codes_layout(features)))
    o : Out(stream.Signature(codes_layout(classes) or signal_layout(classes)))
    """

    def __init__(self, model: QuantizedModel, lanes=None, *, argmax: bool = False,
                 input_levels: int = 0, input_copies=()):
        layers = model.layers
        lanes = lanes_per_layer(model, lanes)
        last = len(layers) - 1
        # between two layers that stream their clamp, the first hands it on unregistered
        # and the second counts it in its first stage: one register fewer
        streams = [streams_clamp(layer, count) for layer, count in zip(layers, lanes)]
        hand_on = [index < last and streams[index] and streams[index + 1]
                   for index in range(len(layers))]
        self.layers = [dense_layer(layer, count, argmax=argmax and index == last,
                                   input_levels=(input_levels if index == 0 else
                                                 int(hand_on[index - 1])) if streams[index]
                                   else 0,
                                   hand_on_clamp=hand_on[index],
                                   input_copies=input_copies if index == 0 else ())
                       for index, (layer, count) in enumerate(zip(layers, lanes))]
        output = signal_layout if argmax else codes_layout
        super().__init__({
            "i": In(stream.Signature(codes_layout(layers[0].inputs))),
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
