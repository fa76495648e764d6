"""Unsigned integer dividers with a saturating quotient.

Both compute ``quotient = min(dividend // divisor, 2**quotient_bits - 1)`` (a zero divisor
saturates). Only ``quotient_bits`` quotient bits are ever developed: whether the true
quotient needs more is one compare of the dividend's high part with the divisor, done
before the first quotient bit, so the remainder never grows beyond the divisor's width.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

#: Attributes of the divisor's pipeline registers: kept, so that dividers sharing a
#: divisor (four features divide by ``open``) each keep their own copy next to their
#: subtractors. Merged, one register would feed the carry chains of all of them, spread
#: over the chip, and its routes would set fmax (see :data:`hw.flow.build.KEEP_REGISTERS`).
UNSHARED = {"keep": 1}


def restoring_step(partial, divisor):
    """One restoring-division step: ``(bit, remainder)`` with ``bit = partial >= divisor``."""
    difference = partial - divisor
    fits = ~difference[-1]
    return fits, Mux(fits, difference, partial)[:len(divisor)]


def radix4_step(partial, divisor, divisor_x3):
    """Two quotient bits at once: ``(digit, remainder)`` from three subtractions side by
    side (the largest multiple of ``divisor`` that fits wins), no carry chains in series.

    ``fits_3 => fits_2 => fits_1``, so ``fits_2`` splits the choice in halves: each bit of
    the remainder is two 2:1 multiplexers and a third selecting by ``fits_2`` (a LUT pair
    and its PFUMX on an ECP5), each select straight from a carry chain's end. The priority
    form, ``fits_3 ? ... : fits_2 ? ... : ...``, makes the synthesizer build one shared
    select signal first: a logic level and a high-fanout net more in the critical path.
    """
    differences = [partial - divisor, partial - (divisor << 1), partial - divisor_x3]
    fits_1, fits_2, fits_3 = (~difference[-1] for difference in differences)
    d1, d2, d3 = differences
    digit = Cat(Mux(fits_2, fits_3, fits_1), fits_2)
    remainder = Mux(fits_2, Mux(fits_3, d3, d2), Mux(fits_1, d1, partial))
    return digit, remainder[:len(divisor)]


def pipelined_latency(quotient_bits: int) -> int:
    """Cycles of :class:`PipelinedDivider` for ``quotient_bits``: stage 0, then one stage
    per two quotient bits."""
    return 1 + quotient_bits // 2


def saturates(high, divisor):
    """``high >= divisor`` for a ``high`` that may be wider than ``divisor``."""
    width = len(divisor)
    if len(high) <= width:
        return high >= divisor
    return high[width:].any() | (high[:width] >= divisor)


class PipelinedDivider(wiring.Component):
    """Pipelined restoring divider, two quotient bits per stage.

    ``quotient = min(dividend // divisor, 2**quotient_bits - 1)`` for the operands presented
    ``latency`` advances earlier. The pipeline moves one stage on each cycle with ``en``
    high, so a whole pipeline around it can stall in step.

    Stage 0 detects saturation (``dividend >> quotient_bits >= divisor``), computes
    ``3 * divisor`` and, for an odd ``quotient_bits``, the first quotient bit; each later
    stage develops two quotient bits with three parallel subtractions of
    ``divisor_width + 3`` bits. Latency ``1 + quotient_bits // 2`` cycles
    (:func:`pipelined_latency`); throughput one division per cycle. No register has a
    reset: the pipeline only carries data, whose valid bits travel beside it.

    Parameters
    ----------
    dividend_width, divisor_width, quotient_bits : int

    Members
    -------
    en : In(1)
    dividend : In(dividend_width)
    divisor : In(divisor_width)
    quotient : Out(quotient_bits)
    """

    def __init__(self, dividend_width: int, divisor_width: int, quotient_bits: int):
        if not 0 < quotient_bits < dividend_width:
            raise ValueError(f"divider: need 0 < quotient_bits ({quotient_bits}) < "
                             f"dividend_width ({dividend_width})")
        self._divisor_width = divisor_width
        self._quotient_bits = quotient_bits
        super().__init__({
            "en": In(1),
            "dividend": In(dividend_width),
            "divisor": In(divisor_width),
            "quotient": Out(quotient_bits),
        })

    @property
    def latency(self) -> int:
        return pipelined_latency(self._quotient_bits)

    def elaborate(self, platform):
        m = Module()
        bits, width = self._quotient_bits, self._divisor_width

        # stage 0: saturation, 3 * divisor, and the odd quotient bit if any
        saturated = Signal(reset_less=True)
        divisor = Signal(width, reset_less=True, attrs=UNSHARED)
        divisor_x3 = Signal(width + 2, reset_less=True, attrs=UNSHARED)
        remainder = Signal(width, reset_less=True)
        quotient = Signal(bits, reset_less=True)
        low = Signal(bits, reset_less=True)
        high = self.dividend[bits:]
        first_remainder = high[:width] if len(high) >= width else high
        first_quotient = Const(0, bits)
        if bits % 2:
            fits, first_remainder = restoring_step(
                Cat(self.dividend[bits - 1], first_remainder), self.divisor)
            first_quotient = fits
        with m.If(self.en):
            m.d.sync += [
                saturated.eq(saturates(high, self.divisor)),
                divisor.eq(self.divisor),
                divisor_x3.eq(self.divisor + (self.divisor << 1)),
                remainder.eq(first_remainder),
                quotient.eq(first_quotient),
                low.eq(self.dividend[:bits]),
            ]

        # stages 1..: two quotient bits each, dividend bits consumed from the top of `low`
        for stage in range(bits // 2):
            position = bits - (bits % 2) - 2 * stage - 2  # lowest dividend bit used here
            digit, next_remainder = radix4_step(
                Cat(low[position:position + 2], remainder), divisor, divisor_x3)
            stage_saturated = Signal(reset_less=True)
            stage_remainder = Signal(width, reset_less=True)
            stage_quotient = Signal(bits, reset_less=True)
            stage_low = Signal(bits, reset_less=True)
            with m.If(self.en):
                m.d.sync += [
                    stage_saturated.eq(saturated),
                    stage_remainder.eq(next_remainder),
                    stage_quotient.eq(Cat(digit, quotient)),
                    stage_low.eq(low),
                ]
            if stage < bits // 2 - 1:   # the divisor, for the next stage
                stage_divisor = Signal(width, reset_less=True, attrs=UNSHARED)
                stage_divisor_x3 = Signal(width + 2, reset_less=True, attrs=UNSHARED)
                with m.If(self.en):
                    m.d.sync += [stage_divisor.eq(divisor), stage_divisor_x3.eq(divisor_x3)]
                divisor, divisor_x3 = stage_divisor, stage_divisor_x3
            saturated, remainder, quotient, low = \
                stage_saturated, stage_remainder, stage_quotient, stage_low

        m.d.comb += self.quotient.eq(Mux(saturated, (1 << bits) - 1, quotient))
        return m


class SerialDivider(wiring.Component):
    """Iterative restoring divider, one quotient bit per cycle, for the smallest area.

    ``quotient = min((dividend << scale) // divisor, 2**quotient_bits - 1)``. A cycle with
    ``start`` high loads ``dividend`` and ``scale``; the division then takes
    ``dividend_width + scale`` cycles with ``busy`` high, and ``quotient`` is valid from the
    cycle ``busy`` falls until the next ``start``. ``dividend``, ``divisor`` and ``scale``
    are registered at ``start``, so the operand selection ahead of the divider and its
    subtractor are separate timing paths. One subtractor of ``divisor_width + 1`` bits; the
    dividend's bits are shifted out at the top and zeros follow, which is the ``<< scale``.

    Parameters
    ----------
    dividend_width, divisor_width, quotient_bits : int
    max_scale : int
        Largest ``scale``.

    Members
    -------
    start : In(1)
    dividend : In(dividend_width)
    scale : In(range(max_scale + 1))
    divisor : In(divisor_width)
    busy : Out(1)
    quotient : Out(quotient_bits)
    """

    def __init__(self, dividend_width: int, divisor_width: int, quotient_bits: int,
                 max_scale: int = 0):
        self._dividend_width = dividend_width
        self._divisor_width = divisor_width
        self._quotient_bits = quotient_bits
        self._max_scale = max_scale
        super().__init__({
            "start": In(1),
            "dividend": In(dividend_width),
            "scale": In(range(max_scale + 1)),
            "divisor": In(divisor_width),
            "busy": Out(1),
            "quotient": Out(quotient_bits),
        })

    def cycles(self, scale: int) -> int:
        """Cycles with ``busy`` high for one division."""
        return self._dividend_width + scale

    def elaborate(self, platform):
        m = Module()
        bits = self._quotient_bits
        remainder = Signal(self._divisor_width)
        dividend = Signal(self._dividend_width)
        divisor = Signal(self._divisor_width)
        quotient = Signal(bits)
        saturated = Signal()
        steps_left = Signal(range(self._dividend_width + self._max_scale + 1))

        fits, next_remainder = restoring_step(Cat(dividend[-1], remainder), divisor)
        m.d.comb += [
            self.busy.eq(steps_left != 0),
            self.quotient.eq(Mux(saturated, (1 << bits) - 1, quotient)),
        ]
        with m.If(self.start):
            m.d.sync += [
                remainder.eq(0),
                dividend.eq(self.dividend),
                divisor.eq(self.divisor),
                quotient.eq(0),
                saturated.eq(0),
                steps_left.eq(self._dividend_width + self.scale),
            ]
        with m.Elif(self.busy):
            m.d.sync += [
                remainder.eq(next_remainder),
                dividend.eq(dividend << 1),
                quotient.eq(Cat(fits, quotient)),
                # a quotient bit at weight 2**bits or above: the result saturates
                saturated.eq(saturated | (fits & (steps_left > bits))),
                steps_left.eq(steps_left - 1),
            ]
        return m
