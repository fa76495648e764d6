"""The quantized MLP: Dense layers chained by streams."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.gateware.dense import Dense, mac_lanes
from hw.gateware.layouts import features_layout
from hw.gateware.skid import chain, chain_latency
from sw.spec.artifact import QuantizedModel


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
    bit-exact with :func:`sw.spec.golden.infer` (before the argmax); ``warm`` rides along.

    Latency is the sum of the layers' latencies plus one cycle for each
    :class:`hw.gateware.skid.SkidBuffer` between two layers (it keeps stall logic and operand
    multiplexers local to a layer); ``ii`` is the largest layer ``ii``.

    Parameters
    ----------
    model : sw.spec.artifact.QuantizedModel
    multipliers : tuple of (int or None), optional
        MAC lanes per layer (:class:`hw.gateware.dense.Dense`); ``None`` (default) fully parallel.

    Members
    -------
    i : In(stream.Signature(features_layout(features)))
    o : Out(stream.Signature(features_layout(classes)))
    """

    def __init__(self, model: QuantizedModel, multipliers=None):
        layers = model.layers
        multipliers = check_multipliers(model, multipliers)
        self.layers = [Dense(layer, lanes) for layer, lanes in zip(layers, multipliers)]
        super().__init__({
            "i": In(stream.Signature(features_layout(layers[0].inputs))),
            "o": Out(stream.Signature(features_layout(layers[-1].outputs))),
        })

    @property
    def latency(self) -> int:
        return chain_latency(self.layers)

    @property
    def ii(self) -> int:
        return max(layer.ii for layer in self.layers)

    def elaborate(self, platform):
        m = Module()
        for index, layer in enumerate(self.layers):
            m.submodules[f"layer{index}"] = layer
        chain(m, wiring.flipped(self.i), self.layers, wiring.flipped(self.o))
        return m
