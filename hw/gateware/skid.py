"""A registered skid buffer: cuts both the ``ready`` and the data paths between stages."""

from amaranth.hdl import Cover, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.gateware.formal import FreeInputs, Proof, check_held, check_order, occupancy
from hw.gateware.layouts import payload_register


class SkidBuffer(wiring.Component):
    """A stream register stage with a registered ``i.ready``.

    Stages that stall as a whole (``i.ready = ~o.valid | o.ready``) chain their ``ready``
    combinationally from the last consumer back to the first producer; here ``o`` comes
    straight from flip-flops and ``i.ready`` is a flip-flop: a transfer that ``o`` refuses
    is caught in a second entry. In :class:`hw.board.link.UartLink` it separates the UART
    receiver, by its pin, from the frame parser, and the parser from the core.

    Latency 1 cycle; throughput one transfer per cycle, with one idle cycle on ``i`` after
    each stall of ``o`` that filled the second entry.

    Members
    -------
    i : In(stream.Signature(layout))
    o : Out(stream.Signature(layout))
    """

    latency = 1

    def __init__(self, layout):
        super().__init__({"i": In(stream.Signature(layout)),
                          "o": Out(stream.Signature(layout))})

    def elaborate(self, platform):
        m = Module()
        caught = Signal(self.i.payload.shape(), reset_less=True)
        caught_valid = Signal()
        payload = payload_register(m, self.o)
        m.d.comb += self.i.ready.eq(~caught_valid)
        with m.If(~self.o.valid | self.o.ready):
            with m.If(caught_valid):
                m.d.sync += [payload.eq(caught), self.o.valid.eq(1), caught_valid.eq(0)]
            with m.Else():
                m.d.sync += [payload.eq(self.i.payload), self.o.valid.eq(self.i.valid)]
        with m.Elif(self.i.valid & self.i.ready):
            m.d.sync += [caught.eq(self.i.payload), caught_valid.eq(1)]
        if platform == "formal":
            check_order(m, self.i, self.o, [(self.o.valid, payload), (caught_valid, caught)],
                        capacity=2, name="skid")
        return m


def proofs() -> list[Proof]:
    """The skid buffer keeps the stream rules for any producer and consumer."""
    def properties(m, skid):
        stall = check_held(m, skid.o, "o")
        held = occupancy(m, skid.i, skid.o, 2, "skid")
        m.d.comb += [
            Cover(stall & skid.o.ready & (held == 2),
                  "a stall caught a second entry, then o moved"),
            Cover(skid.i.valid & ~skid.i.ready, "i refused while both entries are full"),
        ]
    return [
        Proof("skid: stream rules", "hw.gateware.skid.SkidBuffer", "prove", depth=2,
              harness=lambda: FreeInputs(SkidBuffer(8), properties), cover_depth=6,
              shows="o.payload holds while o.valid & ~o.ready; every byte taken leaves once, "
                    "in order; at most 2 held"),
        Proof("skid: i.ready registered", "hw.gateware.skid.SkidBuffer", "structural",
              depth=0, harness=lambda: SkidBuffer(8),
              shows="i.valid is not in the combinational cone of i.ready"),
    ]
