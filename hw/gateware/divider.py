"""An unsigned integer divider with a saturating quotient, for the folded feature extractor.

``quotient = min(dividend // divisor, 2**quotient_bits - 1)`` (a zero divisor saturates).
The parallel extractor divides by compares with multiples prepared ahead instead
(:mod:`hw.gateware.quotient`).
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


def restoring_step(partial, divisor):
    """One restoring-division step: ``(bit, remainder)`` with ``bit = partial >= divisor``."""
    difference = partial - divisor
    fits = ~difference[-1]
    return fits, Mux(fits, difference, partial)[:len(divisor)]


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
