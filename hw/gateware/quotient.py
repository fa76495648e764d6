"""Feature codes by compares with multiples of a divisor prepared from earlier klines.

The code of a feature (:mod:`sw.spec.features`) is ``sign * min(q, 127)`` with
``q = floor((A + d) / (2 d))``, ``A = |num| << (shift + 1)`` and ``d`` the denominator.
``q >= k`` exactly when ``A >= (2 k - 1) d``, so with the multiples of ``d`` at hand no
division is left, only compares, in two steps of a radix-16 long division:

1. ``h = floor(q / 16)`` (0 to 7) counts the multiples ``(32 j - 1) d``, ``j = 1 .. 7``,
   that ``A`` reaches; reaching ``255 d`` (``j = 8``) means ``q >= 128``, which saturates.
   The subtractions that decide the compares give every candidate remainder
   ``R_j = A - (32 j - 1) d`` side by side (``R_0 = A + d``).
2. ``R_h`` lies in ``[0, 32 d)`` and ``q = 16 h + l``, where ``l`` (0 to 15) counts the
   multiples ``2 k d``, ``k = 1 .. 15``, that ``R_h`` reaches.

Every denominator of the spec is known before its kline arrives, so
:class:`DivisorMultiples` prepares the multiples of the next kline's ``d`` while the
current kline is taken, and :class:`FeatureQuotient` needs no cycle of its own for them.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.gateware.arith import (
    multiples,
    thermometer_count,
    thermometer_map,
)
from sw.spec.features import FEATURE_LIMIT

#: ``h``'s multiples ``(32 j - 1) d`` for ``j = 1 .. 8`` (the last one: saturation).
HIGH_FACTORS = tuple(32 * j - 1 for j in range(1, 9))
#: ``l``'s multiples ``2 k d`` for ``k = 1 .. 15``.
LOW_FACTORS = tuple(2 * k for k in range(1, 16))
#: ``R_h < 32 d``: remainders and ``l``'s multiples are this many bits wider than ``d``.
REMAINDER_BITS = 5
#: Copies of the registered one-hot ``h`` that picks the remainder ``R_h``, each for a
#: slice of its bits (a register driving all of them is a net of ~40 loads across the chip).
PICK_COPIES = 3
#: Copies of the stage-2 registers a code comes from, each with its own code logic, for the
#: consumers of the codes to share out (:attr:`FeatureQuotient.code_copies`): one code
#: drives every first-layer output's adders, a net across the chip.
CODE_COPIES = 4
assert 16 * (len(HIGH_FACTORS) - 1) + len(LOW_FACTORS) == FEATURE_LIMIT


def high_layout(divisor_width: int) -> data.ArrayLayout:
    return data.ArrayLayout(unsigned(divisor_width + 8), len(HIGH_FACTORS))


def low_layout(divisor_width: int) -> data.ArrayLayout:
    return data.ArrayLayout(unsigned(divisor_width + REMAINDER_BITS), len(LOW_FACTORS))


class DivisorMultiples(wiring.Component):
    """The multiples of one denominator that :class:`FeatureQuotient` compares with; one
    per denominator, shared by the features dividing by it.

    In the cycle a kline is taken (``load``), ``next`` is the denominator of the kline
    after it: it is registered as ``value`` together with its ``high`` multiples
    (:data:`HIGH_FACTORS`, at most two adder levels each, one adder per odd factor with
    :func:`hw.gateware.arith.multiples`) and whether it is ``nonzero``,
    all ready when that next kline is taken. ``low`` (:data:`LOW_FACTORS`) follows
    ``value`` one advance (``en``) later, beside the kline's first quotient stage.

    Members
    -------
    en, load : In(1)
    next : In(width)
    value : Out(width)
    nonzero : Out(1)
    high : Out(high_layout(width))
    low : Out(low_layout(width))
    """

    def __init__(self, width: int):
        self._width = width
        super().__init__({
            "en": In(1), "load": In(1), "next": In(width),
            "value": Out(width), "nonzero": Out(1),
            "high": Out(high_layout(width)), "low": Out(low_layout(width)),
        })

    def elaborate(self, platform):
        m = Module()
        value = Signal(self._width, reset_less=True)
        nonzero = Signal(reset_less=True)
        high = Signal(high_layout(self._width), reset_less=True)
        low = Signal(low_layout(self._width), reset_less=True)
        # the products outside the If blocks: their adders' kept wires are comb assignments,
        # which inside an If would be gated by its condition
        highs = multiples(m, self.next, HIGH_FACTORS)
        lows = multiples(m, value, LOW_FACTORS)
        with m.If(self.load):
            m.d.sync += [value.eq(self.next), nonzero.eq(self.next != 0)]
            m.d.sync += [high[j].eq(product) for j, product in enumerate(highs)]
        with m.If(self.en):
            m.d.sync += [low[k].eq(product) for k, product in enumerate(lows)]
        m.d.comb += [self.value.eq(value), self.nonzero.eq(nonzero), self.high.eq(high),
                     self.low.eq(low)]
        return m


class FeatureQuotient(wiring.Component):
    """One feature code, ``sign * min(floor((A + d) / (2 d)), 127)`` with
    ``A = magnitude << (shift + 1)`` (``magnitude = |num|``), or 0 unless ``ready`` (the
    module docstring's steps).

    Stage 1, combinational from ``magnitude``, ``negative``, ``ready``, ``divisor`` and
    ``high``: eight subtractions ``A - (32 j - 1) d`` side by side, whose signs are the
    compares and whose low bits the candidate remainders. They take only as many bits of
    ``A`` as ``255 d`` can have; a bit of ``A`` above those saturates the code (an OR,
    registered beside the signs). Stage 2, from the registered
    stage 1 and ``low`` (``d`` of the same kline): the remainder picked by the compares'
    thermometer code, and fifteen compares with ``2 k d``. Each stage registers the carry
    chains' sign bits as they come out (no inverter between a chain and its flip-flop).
    ``code`` is combinational from the stage-2 registers (the code's bits straight from
    the compares' thermometer codes and the sign, :func:`signed_code`): valid two advances
    (``en``) after the operands, one result per cycle.

    Members
    -------
    en, negative, ready : In(1)
    magnitude : In(magnitude_width)
    divisor : In(divisor_width)
    high : In(high_layout(divisor_width))
    low : In(low_layout(divisor_width))
    code : Out(signed(8))
    code_copies : Out(data.ArrayLayout(signed(8), copies - 1))
        ``code`` again, each from its own kept copy of the stage-2 registers.
    """

    latency = 2

    def __init__(self, magnitude_width: int, divisor_width: int, shift: int,
                 copies: int = 1):
        self._shift = shift
        self._remainder_width = divisor_width + REMAINDER_BITS
        super().__init__({
            "en": In(1), "negative": In(1), "ready": In(1),
            "magnitude": In(magnitude_width), "divisor": In(divisor_width),
            "high": In(high_layout(divisor_width)), "low": In(low_layout(divisor_width)),
            "code": Out(signed(8)),
            "code_copies": Out(data.ArrayLayout(signed(8), copies - 1)),
        })

    def _register(self, m, value, name, attrs=None):
        register = Signal(value.shape(), name=name, reset_less=True, attrs=attrs or {})
        with m.If(self.en):
            m.d.sync += register.eq(value)
        return register

    @staticmethod
    def _wire(m, value, name):
        wire = Signal(value.shape(), name=name)
        m.d.comb += wire.eq(value)
        return wire

    def elaborate(self, platform):
        m = Module()
        width = self._remainder_width
        scaled = Cat(Const(0, self._shift + 1), self.magnitude)
        # A's bits above the widest multiple's make every compare true (q saturates): the
        # compares need not carry through them, their OR saturates the code instead
        compared = len(self.high[0])
        differences = [scaled[:compared] - self.high[j] for j in range(len(HIGH_FACTORS))]
        # short[j]: A < (32 (j + 1) - 1) d, the sign of the subtraction
        short = self._register(m, Cat(*[d[-1] for d in differences]), "short")
        beyond = self._register(m, scaled[compared:].any(), "beyond")
        remainders = [self._register(m, value[:width], f"remainder_{j}") for j, value in
                      enumerate([scaled[:width] + self.divisor, *differences[:-1]])]
        negative = self._register(m, self.negative, "negative_1")
        ready = self._register(m, self.ready, "ready_1")

        # h one-hot, registered in PICK_COPIES kept copies, each selecting a slice of the
        # remainders' bits: an AND-OR of two LUT levels with a fanout of a dozen, where a
        # multiplexer tree on the thermometer code is four levels with a fanout of 40
        reached = [~d[-1] for d in differences[:-1]]
        one_hot = Cat(~reached[0], *[reached[j - 1] & ~reached[j]
                                     for j in range(1, len(reached))], reached[-1])
        copies = [self._register(m, one_hot, f"pick_{c}", {"keep": 1})
                  for c in range(PICK_COPIES)]
        slices = [width * c // PICK_COPIES for c in range(PICK_COPIES + 1)]
        chosen = Cat(*[one_hot_pick(copies[c], [r[slices[c]:slices[c + 1]] for r in remainders])
                       for c in range(PICK_COPIES)])
        # each stage-2 value once, as a wire (a simulator would evaluate it once per copy):
        # below[k]: R_h < 2 (k + 1) d, the sign of the subtraction; the high nibble of q
        # and of -q (with and without a borrow from the low one)
        shared = {"below": Cat(*[(chosen - self.low[k])[-1] for k in range(len(LOW_FACTORS))])}
        shared.update((name, thermometer_map(~short[:-1], function, 4)) for name, function in (
            ("high", lambda h: h), ("high_neg", lambda h: -h & 15),
            ("high_neg_borrow", lambda h: -h - 1 & 15)))
        stage_2 = {name: self._wire(m, value, name) for name, value in shared.items()}
        stage_2.update(saturated=~short[-1] | beyond, negative_2=negative, ready_2=ready)
        for copy, code in enumerate([self.code, *self.code_copies]):
            # each copy its own registers (kept, or Yosys would merge them into one)
            r = {name: self._register(m, value, f"{name}_{copy}", {"keep": 1})
                 for name, value in stage_2.items()}
            m.d.comb += code.eq(signed_code(
                ~r["below"], [r["high"], r["high_neg"], r["high_neg_borrow"]],
                r["saturated"], r["negative_2"], r["ready_2"]))
        return m


def one_hot_pick(select, values):
    """``values[j]`` for the one-hot ``select`` (bit ``j`` set), as an OR of ANDs."""
    return Cat(*[Cat(*[select[j] & value[b] for j, value in enumerate(values)]).any()
                 for b in range(len(values[0]))])


def signed_code(steps, nibbles, saturated, negative, ready):
    """``sign * q`` with ``q = 16 * h + l``, ``l`` the count of the thermometer code
    ``steps`` (or ``q = 127`` when ``saturated``), 0 unless ``ready``, with no adder:
    ``-q = 16 * -h - l`` is ``16 * -(h + 1) + (16 - l)`` for ``l > 0``, so its low nibble
    is another function of the thermometer's edges and its high nibble one of the
    registered ``nibbles`` (``h``, ``-h``, ``-h - 1``, 4 bits each) chosen by ``l == 0``.
    Each bit is a few LUTs deep, no carry chain."""
    high, high_negated, high_borrowed = nibbles
    low = thermometer_count(steps)
    low_negated = thermometer_map(steps, lambda l: -l & 15)
    value = Mux(negative, Cat(low_negated, Mux(steps[0], high_borrowed, high_negated)),
                Cat(low, high))
    limit = Mux(negative, -FEATURE_LIMIT, FEATURE_LIMIT)
    return Mux(ready, Mux(saturated, limit, value.as_signed()), 0)
