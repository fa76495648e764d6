"""Argmax: the trading signal from the final layer's INT8 outputs."""

from amaranth.hdl import Cat, Module, Mux
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.gateware.layouts import features_layout, payload_register, signal_layout


class Argmax(wiring.Component):
    """``signal`` = index of the largest INT8 output, the lowest index on a tie
    (:func:`sw.spec.golden.argmax`); the outputs themselves go on as ``raw``, ``warm`` rides along.

    Output ``k`` wins when it is above every output before it and at least every output
    after it; all ``classes * (classes - 1)`` comparisons run side by side, registered once:
    latency 1 cycle, one vector per cycle (``ii = 1``). Advances when ``~o.valid | o.ready``.

    Parameters
    ----------
    classes : int

    Members
    -------
    i : In(stream.Signature(features_layout(classes)))
    o : Out(stream.Signature(signal_layout(classes)))
    """

    latency = 1
    ii = 1

    def __init__(self, classes: int):
        if classes < 2:
            raise ValueError(f"argmax needs at least 2 classes, got {classes}")
        self._classes = classes
        super().__init__({
            "i": In(stream.Signature(features_layout(classes))),
            "o": Out(stream.Signature(signal_layout(classes))),
        })

    def elaborate(self, platform):
        m = Module()
        raw = self.i.payload.features
        n = self._classes
        # all comparisons side by side (one carry chain deep), not a tree of them in series
        wins = [Cat(*[raw[index] > raw[other] if other < index else raw[index] >= raw[other]
                      for other in range(n) if other != index]).all() for index in range(n)]
        signal = 0
        for index in reversed(range(n)):
            signal = Mux(wins[index], index, signal)

        advance = ~self.o.valid | self.o.ready
        payload = payload_register(m, self.o)
        m.d.comb += self.i.ready.eq(advance)
        with m.If(advance):
            m.d.sync += [
                self.o.valid.eq(self.i.valid),
                payload.signal.eq(signal),
                payload.raw.eq(raw),
                payload.warm.eq(self.i.payload.warm),
            ]
        return m
