"""Constant arithmetic of the dense layers: canonical signed digits and adder trees built
from them.

A constant product is a sum of shifted copies of its operand, one per nonzero canonical
signed digit; sums are built pairwise as adder trees whose levels each cost one carry
chain. The callers decide where pipeline registers go between levels.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal


def csd(value: int) -> list[tuple[int, int]]:
    """Canonical signed digits: ``[(sign, shift), ...]`` with ``value == sum(sign << shift)``,
    at most ``ceil(bits / 2)`` digits, so a constant product is that many shifted adds."""
    digits, shift = [], 0
    while value:
        if value & 1:
            digit = 2 - (value & 3)     # ...01 -> +1, ...11 -> -1 (and carry)
            digits.append((digit, shift))
            value -= digit
        value >>= 1
        shift += 1
    return digits


def add_terms(left, right=None):
    """Sum of two ``(negative, magnitude)`` terms as one adder or subtractor (``a - b``, never
    ``a + (-b)``), so a negative CSD digit costs no negation."""
    if right is None:
        return left
    (left_negative, a), (right_negative, b) = left, right
    if left_negative == right_negative:
        return left_negative, a + b
    return False, (b - a if left_negative else a - b)


def add_levels(m: Module, sums, levels: int):
    """``levels`` levels of pairwise :func:`add_terms` on each list of terms in ``sums``.

    Each level's sums but the last are kept wires: Yosys would otherwise merge the levels
    into one multi-operand sum and build it as a carry-save tree of LUT full adders (two
    LUTs per bit and operand) in front of one carry chain. Adders in series each get their
    own carry chain (one LUT per bit), and a ripple-carry sum feeding another costs little
    more delay than one: its low bits are ready first. Call it outside any ``m.If``
    (see :func:`kept`)."""
    for level in range(levels):
        sums = [[add_terms(*terms[k:k + 2]) for k in range(0, len(terms), 2)] for terms in sums]
        if level < levels - 1:
            sums = [[(negative, kept(m, value)) for negative, value in terms] for terms in sums]
    return sums


def tree_levels(terms: int) -> int:
    """Adder levels of a pairwise tree over ``terms`` terms."""
    return max(terms - 1, 0).bit_length()


def kept(m: Module, value):
    """``value`` through a wire Yosys keeps. A combinational assignment: outside any
    ``m.If`` (inside one the wire would be 0 unless its condition holds, a gate in front of
    the adder)."""
    wire = Signal(value.shape(), attrs={"keep": 1})
    m.d.comb += wire.eq(value)
    return wire


def total(terms):
    """The value of a fully added list of terms, ``[(negative, magnitude)]``."""
    (negative, value), = terms
    return -value if negative else value
