"""Feature codes from a reciprocal of the denominator prepared from earlier klines.

The code of a feature (:mod:`sw.spec.features`) is ``sign * min((m + 1) >> 1, 127)`` with
``m = (u * r) >> 13``: ``r`` the reciprocal of the denominator's top 9 bits (a table) and
``u = (|num| << (shift + 5)) >> E`` with ``E = floor(log2(den))``; ``u >= 2**14``
saturates. Every denominator of the spec is known before its kline arrives, so
:class:`DivisorReciprocal` finds ``E`` and the table's index while the kline before it is
taken and reads the table in the next cycle, beside the kline's first stage;
:class:`FeatureQuotient` shifts in its first stage and multiplies in its second, with no
divider and no cycle of its own for the denominator.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from sw.spec.features import (
    FEATURE_LIMIT,
    MANTISSA_BITS,
    PRODUCT_SHIFT,
    RECIPROCALS,
    WINDOW_LIMIT,
    WINDOW_SHIFT,
)

#: ``u``'s bits (below :data:`sw.spec.features.WINDOW_LIMIT`) and ``r``'s (257 to 512).
WINDOW_BITS = (WINDOW_LIMIT - 1).bit_length()
RECIPROCAL_BITS = int(RECIPROCALS.max()).bit_length()
#: ``m`` is needed up to 255: from ``2 * FEATURE_LIMIT - 1 = 253`` on, ``q`` saturates.
QUOTIENT_BITS = 8
assert (1 << QUOTIENT_BITS) - 3 == 2 * FEATURE_LIMIT - 1  # what feature_code relies on
#: Copies of the stage-2 registers a code comes from, each with its own code logic, for the
#: consumers of the codes to share out (:attr:`FeatureQuotient.code_copies`): one code
#: drives every first-layer output's adders, a net across the chip.
CODE_COPIES = 4


def feature_code(quotient, negative, ready):
    """INT8 code from the saturated quotient ``m`` (8 bits, 255 when saturated):
    ``sign * min((m + 1) >> 1, 127)``, or 0 unless ``ready``. ``(m + 1) >> 1 = (m >> 1) +
    m[0]``, and the sign folds into that one 8-bit addition (``-(a + r) = ~a + (1 - r)``),
    keeping the output stage one short chain."""
    half = Cat(quotient[1:], Const(0, 1))
    signed_sum = (Mux(negative, ~half, half) + (quotient[0] ^ negative))[:8].as_signed()
    saturated = quotient[2:].all() & quotient[:2].any()  # m >= 253 = 0b11111101
    limit = Mux(negative, -FEATURE_LIMIT, FEATURE_LIMIT)
    return Mux(ready, Mux(saturated, limit, signed_sum), 0)


def saturated_quotient(product, saturated):
    """``m = product >> 13`` in :data:`QUOTIENT_BITS` bits, 255 when it does not fit or
    ``saturated`` (``u`` beyond its window)."""
    m = product >> PRODUCT_SHIFT
    return Mux(saturated | m[QUOTIENT_BITS:].any(), (1 << QUOTIENT_BITS) - 1,
               m[:QUOTIENT_BITS])


def reciprocal_table(**attrs) -> Memory:
    """:data:`sw.spec.features.RECIPROCALS` as a ROM, indexed by the 8 mantissa bits below
    the leading one."""
    return Memory(shape=RECIPROCAL_BITS, depth=len(RECIPROCALS),
                  init=[int(r) for r in RECIPROCALS], attrs=attrs or None)


def exponent_shape(width: int):
    return unsigned((width - 1).bit_length())


class DivisorReciprocal(wiring.Component):
    """The exponent and reciprocal of one denominator that :class:`FeatureQuotient` needs;
    one per denominator, shared by the features dividing by it.

    In the cycle a kline is taken (``load``), ``next`` is the denominator of the kline
    after it: it is registered as ``value``, with whether it is ``nonzero``, its
    ``exponent`` ``E = floor(log2(next))`` (a priority encoder) and the table index, its
    top 9 bits below the leading one. ``reciprocal`` is read from the table
    (:data:`sw.spec.features.RECIPROCALS`, LUTs) in the next advance (``en``) and
    registered, ready for the kline's second stage. Registered with the advance, it stays
    with its kline while the pipeline stalls.

    Members
    -------
    en, load : In(1)
    next : In(width)
    value : Out(width)
    nonzero : Out(1)
    exponent : Out(exponent_shape(width))
    reciprocal : Out(RECIPROCAL_BITS)
    """

    def __init__(self, width: int):
        self._width = width
        super().__init__({
            "en": In(1), "load": In(1), "next": In(width),
            "value": Out(width), "nonzero": Out(1),
            "exponent": Out(exponent_shape(width)), "reciprocal": Out(RECIPROCAL_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        leading = Signal(exponent_shape(self._width))
        for bit in range(self._width):  # the highest set bit's assignment wins
            with m.If(self.next[bit]):
                m.d.comb += leading.eq(bit)
        # the top 9 bits are 1xxxxxxxx: the table is indexed by the 8 below the leading one
        index = ((self.next << (MANTISSA_BITS - 1)) >> leading)[:MANTISSA_BITS - 1]
        # in LUTs: a block RAM's output (5.6 ns after the clock) would start the product's
        # path; a LUT table is read in the cycle before, from the registered index
        m.submodules.table = table = reciprocal_table(rom_style="logic")
        read = table.read_port(domain="comb")
        value = Signal(self._width, reset_less=True)
        nonzero = Signal(reset_less=True)
        exponent = Signal(exponent_shape(self._width), reset_less=True)
        address = Signal(MANTISSA_BITS - 1, reset_less=True)
        reciprocal = Signal(RECIPROCAL_BITS, reset_less=True)
        with m.If(self.load):
            m.d.sync += [value.eq(self.next), nonzero.eq(self.next != 0),
                         exponent.eq(leading), address.eq(index)]
        m.d.comb += read.addr.eq(address)
        with m.If(self.en):
            m.d.sync += reciprocal.eq(read.data)
        m.d.comb += [self.value.eq(value), self.nonzero.eq(nonzero),
                     self.exponent.eq(exponent), self.reciprocal.eq(reciprocal)]
        return m


class FeatureQuotient(wiring.Component):
    """One feature code, ``sign * min((m + 1) >> 1, 127)`` with ``m = (u * r) >> 13`` and
    ``u = (magnitude << (shift + 5)) >> E`` (``magnitude = |num|``), saturated when
    ``u >= 2**14``, or 0 unless ``ready`` (:mod:`sw.spec.features`).

    Stage 1, combinational from ``magnitude``, ``negative``, ``ready`` and ``exponent``: a
    barrel shift, whose low 14 bits are ``u`` and whose higher bits, ORed, saturate the
    code; registered. Stage 2, from them and ``reciprocal`` (the same kline's): the 14 by
    10 bit product (a DSP block), registered in ``copies`` kept copies. ``code`` is
    combinational from the stage-2 registers (the top bits' check and one 8-bit carry
    chain, :func:`hw.gateware.features.feature_code`): valid two advances (``en``) after
    the operands, one result per cycle.

    Members
    -------
    en, negative, ready : In(1)
    magnitude : In(magnitude_width)
    exponent : In(exponent_shape(divisor_width))
    reciprocal : In(RECIPROCAL_BITS)
    code : Out(signed(8))
    code_copies : Out(data.ArrayLayout(signed(8), copies - 1))
        ``code`` again, each from its own kept copy of the stage-2 registers.
    """

    latency = 2

    def __init__(self, magnitude_width: int, divisor_width: int, shift: int,
                 copies: int = 1):
        self._shift = shift
        super().__init__({
            "en": In(1), "negative": In(1), "ready": In(1),
            "magnitude": In(magnitude_width), "exponent": In(exponent_shape(divisor_width)),
            "reciprocal": In(RECIPROCAL_BITS),
            "code": Out(signed(8)),
            "code_copies": Out(data.ArrayLayout(signed(8), copies - 1)),
        })

    def _register(self, m, value, name, attrs=None):
        register = Signal(value.shape(), name=name, reset_less=True, attrs=attrs or {})
        with m.If(self.en):
            m.d.sync += register.eq(value)
        return register

    def elaborate(self, platform):
        m = Module()
        shifted = (self.magnitude << (self._shift + WINDOW_SHIFT)) >> self.exponent
        window = self._register(m, shifted[:WINDOW_BITS], "window")
        over = self._register(m, shifted[WINDOW_BITS:].any(), "over")
        negative = self._register(m, self.negative, "negative_1")
        ready = self._register(m, self.ready, "ready_1")
        stage_2 = dict(product=window * self.reciprocal, over=over, negative_2=negative,
                       ready_2=ready)
        for copy, code in enumerate([self.code, *self.code_copies]):
            # each copy its own registers (kept, or Yosys would merge them into one)
            r = {name: self._register(m, value, f"{name}_{copy}", {"keep": 1})
                 for name, value in stage_2.items()}
            quotient = saturated_quotient(r["product"], r["over"])
            m.d.comb += code.eq(feature_code(quotient, r["negative_2"], r["ready_2"]))
        return m
