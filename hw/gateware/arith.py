"""Constant arithmetic shared by the datapath: canonical signed digits, adder trees built
from them, and counting a thermometer code.

A constant product is a sum of shifted copies of its operand, one per nonzero canonical
signed digit; sums are built pairwise as adder trees whose levels each cost one carry
chain. The callers decide where pipeline registers go between levels.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal


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


def constant_product(m: Module, value, factor: int):
    """``value * factor`` (``factor > 0``) as an adder tree over its canonical signed digits,
    :func:`tree_levels` of their count deep."""
    terms = sorted(((sign < 0, value << shift) for sign, shift in csd(factor)),
                   key=lambda term: term[0])
    return total(add_levels(m, [terms], tree_levels(len(terms)))[0])


def odd_part(factor: int) -> tuple[int, int]:
    """``(odd, shift)`` with ``factor == odd << shift`` and ``odd`` odd (``factor > 0``)."""
    shift = (factor & -factor).bit_length() - 1
    return factor >> shift, shift


def multiples_plan(factors, levels: int) -> dict:
    """How :func:`multiples` builds each odd part of ``factors`` (but 1, the operand itself):
    ``{odd: (depth, a, shift_a, sign, b, shift_b)}`` for one adder on two odd parts built
    before, ``odd == (a << shift_a) + sign * (b << shift_b)``, or ``{odd: (depth, None)}`` for
    a tree over its canonical signed digits where no such adder is ``levels`` deep or less.
    Odd parts are planned fewest digits first, so the others can reuse them."""
    odd_parts = sorted({odd_part(factor)[0] for factor in factors} - {1},
                       key=lambda odd: (len(csd(odd)), odd))
    plan, depth = {}, {1: 0}
    for odd in odd_parts:
        ways = [(max(depth[a], depth[b]) + 1, *way) for a in depth for b in depth
                if max(depth[a], depth[b]) < levels
                for shift in range(1, odd.bit_length() + 1)
                for way, value in (((a, shift, 1, b, 0), (a << shift) + b),
                                   ((a, shift, -1, b, 0), (a << shift) - b),
                                   ((b, 0, -1, a, shift), b - (a << shift)))
                if value == odd]
        plan[odd] = min(ways, key=lambda way: way[0]) if ways else \
            (tree_levels(len(csd(odd))), None)
        depth[odd] = plan[odd][0]
    return plan


def multiples(m: Module, value, factors, levels: int = 2) -> list:
    """``value * factor`` for each of ``factors`` (positive), sharing adders: factors of the
    same odd part are shifts of one sum, and an odd part is one adder on two built before
    wherever that keeps it at most ``levels`` adders deep (a constant product alone would be
    a tree over its signed digits). Each sum is a kept wire (see :func:`kept`); call it
    outside any ``m.If``."""
    built = {1: value}
    for odd, (depth, *way) in multiples_plan(factors, levels).items():
        if way[0] is None:
            product = constant_product(m, value, odd)
        else:
            a, shift_a, sign, b, shift_b = way
            left, right = built[a] << shift_a, built[b] << shift_b
            product = left + right if sign > 0 else left - right
        # unsigned, as wide as the largest product: a difference's sign bit is always 0
        built[odd] = kept(m, product[:(odd * ((1 << len(value)) - 1)).bit_length()])
    return [built[odd] << shift for odd, shift in map(odd_part, factors)]


def thermometer_count(bits):
    """How many of ``bits`` are set, for a thermometer code (``bits[k]`` set exactly when
    more than ``k`` are): each count bit is an OR over the code's edges, two LUT levels."""
    return thermometer_map(bits, lambda count: count)


def thermometer_map(bits, function, width: int | None = None):
    """``function(count)`` (a non-negative int of ``width`` bits, by default as many as
    the count has) of a thermometer code's count, each result bit an OR over the code's
    edges."""
    edges = [~bits[0]] + [bits[k] & ~bits[k + 1] for k in range(len(bits) - 1)] + [bits[-1]]
    return Cat(*[Cat(*[edge for count, edge in enumerate(edges)
                       if function(count) >> b & 1]).any()
                 for b in range(width or len(bits).bit_length())])


def thermometer_pick(bits, values):
    """``values[count]`` for the thermometer code ``bits`` (``len(values) == len(bits) + 1``),
    a tree of multiplexers selected straight by the code's bits."""
    if len(values) == 1:
        return values[0]
    middle = len(values) // 2
    return Mux(bits[middle - 1], thermometer_pick(bits[middle:], values[middle:]),
               thermometer_pick(bits[:middle - 1], values[:middle]))

