"""Payload layouts of the core's streams: one definition, shared by hw, sim and the boards.

In the generated Verilog a payload is one flat vector, first field in the least
significant bits: ``i__payload[31:0]`` is ``open``, ``[159:128]`` is ``volume``;
``o__payload`` holds ``signal``, then ``raw[0]``, ``raw[1]``, ... (8 bits each, two's
complement), then ``warm`` in the top bit. :func:`payload_register` is the reset-less
register behind the output payload of the pipelined stages.
"""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data

from sw.spec.klines import FIELDS, WORD_BITS

#: One kline: prices in ticks, volume in lots, unsigned.
KLINE = data.StructLayout({name: WORD_BITS for name in FIELDS})


def signal_layout(classes: int) -> data.StructLayout:
    """The core's output: ``signal`` (argmax), the final layer's ``raw`` INT8 outputs, and
    ``warm`` (every feature had its full history)."""
    return data.StructLayout({
        "signal": range(classes),
        "raw": data.ArrayLayout(signed(8), classes),
        "warm": 1,
    })


def codes_layout(count: int) -> data.StructLayout:
    """The INT8 vector between the core's stages: the feature extractor's feature codes,
    then each layer's outputs, and ``warm`` passed along."""
    return data.StructLayout({"codes": data.ArrayLayout(signed(8), count), "warm": 1})


def payload_register(m: Module, o):
    """A register without a reset that drives the payload of the stream ``o``; the caller
    registers ``o.valid`` (which keeps its reset) beside it.

    Only valid bits, counters and histories need the reset: the payload travels beside a
    valid bit. In one ULX3S-85F build the core's reset, reaching every flip-flop, was the
    critical path (7.30 ns of routing)."""
    register = Signal(o.payload.shape(), reset_less=True)
    m.d.comb += o.payload.eq(register)
    return register
