"""A skid buffer: cuts the combinational ``ready`` path between two stream stages."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out


class SkidBuffer(wiring.Component):
    """Passes a stream through with a registered ``i.ready``.

    Stages that stall as a whole (``i.ready = ~o.valid | o.ready``) chain their ``ready``
    combinationally from the last consumer back to the first producer; across a whole
    core that chain, not the arithmetic, would set fmax. A skid buffer between stages
    ends the chain: ``i.ready`` is a flip-flop, and a transfer that ``o`` refuses is
    caught in a one-entry buffer.

    Latency 0 cycles (the payload passes through while the buffer is empty); throughput
    one transfer per cycle, with one idle cycle on ``i`` after each stall of ``o``.

    Members
    -------
    i : In(stream.Signature(layout))
    o : Out(stream.Signature(layout))
    """

    latency = 0
    ii = 1

    def __init__(self, layout):
        self._layout = layout
        super().__init__({"i": In(stream.Signature(layout)),
                          "o": Out(stream.Signature(layout))})

    def elaborate(self, platform):
        m = Module()
        full = Signal()
        caught = Signal.like(self.i.payload)
        m.d.comb += [
            self.i.ready.eq(~full),
            self.o.valid.eq(full | self.i.valid),
            self.o.payload.eq(Mux(full, caught, self.i.payload)),
        ]
        with m.If(full):
            with m.If(self.o.ready):
                m.d.sync += full.eq(0)
        with m.Elif(self.i.valid & ~self.o.ready):
            m.d.sync += [full.eq(1), caught.eq(self.i.payload)]
        return m


def chain(m: Module, source, stages: list, sink):
    """Connect ``source -> stages[0] -> ... -> stages[-1] -> sink``, a :class:`SkidBuffer`
    after every stage (submodules ``skid0``, ``skid1``, ...); no latency is added."""
    for index, stage in enumerate(stages):
        wiring.connect(m, source, stage.i)
        skid = m.submodules[f"skid{index}"] = SkidBuffer(stage.o.payload.shape())
        wiring.connect(m, stage.o, skid.i)
        source = skid.o
    wiring.connect(m, source, sink)
