"""Payload layouts of the core's streams: one definition, shared by hw, sim and the boards.

In the generated Verilog a payload is one flat vector, first field in the least
significant bits: ``i__payload[31:0]`` is ``open``, ``[159:128]`` is ``volume``;
``o__payload`` holds ``signal``, then ``raw[0]``, ``raw[1]``, ... (8 bits each, two's
complement), then ``warm`` in the top bit.
"""

from amaranth.hdl import signed
from amaranth.lib import data

from sw.klines import FIELDS, WORD_BITS

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


def features_layout(count: int) -> data.StructLayout:
    """The feature extractor's output: INT8 feature codes, and ``warm`` passed along."""
    return data.StructLayout({"features": data.ArrayLayout(signed(8), count), "warm": 1})
