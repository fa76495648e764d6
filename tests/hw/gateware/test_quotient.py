"""FeatureQuotient with DivisorMultiples against the feature code in Python integers: every
rounding edge (``|num|`` one below, at and one above each ``(2k - 1) d / 2**(shift + 1)``),
saturation, zero, the widest operands, and pipeline stalls."""

import random

import pytest
from amaranth.hdl import Const, Module, Signal
from amaranth.sim import Simulator

from hw.gateware.arith import (
    constant_product,
    csd,
    multiples,
    multiples_plan,
    thermometer_count,
    thermometer_pick,
)
from hw.gateware.quotient import (
    HIGH_FACTORS,
    LOW_FACTORS,
    DivisorMultiples,
    FeatureQuotient,
)


def reference_code(magnitude: int, negative: bool, divisor: int, shift: int) -> int:
    """The spec (:func:`sw.spec.features.features_int`) for ``num = -magnitude`` or
    ``+magnitude``."""
    m = (magnitude << (shift + 1)) // divisor
    return (-1 if negative else 1) * min((m + 1) >> 1, 127)


def operands(width: int, shift: int, count: int, seed: int):
    """(magnitude, divisor) pairs at every rounding edge, at saturation and at random."""
    rng = random.Random(seed)
    top = (1 << width) - 1
    cases = [(0, 1), (top, 1), (top, top), (0, top), (1, top), (top >> 1, top)]
    while len(cases) < count:
        divisor = max(rng.randint(1, top) >> rng.randrange(width), 1)
        k = rng.randint(1, 130)
        edge = -(-((2 * k - 1) * divisor) // (1 << (shift + 1)))   # first |num| with q >= k
        magnitude = edge + rng.choice([-1, 0, 1]) if rng.random() < 0.8 else rng.randint(0, top)
        cases.append((min(max(magnitude, 0), top), divisor))
    return cases


@pytest.mark.parametrize("width, shift", [(32, 14), (32, 0), (36, 3), (32, 20), (12, 5)])
def test_feature_quotient_matches_the_spec(width, shift):
    cases = operands(width, shift, 500, seed=width + shift)
    m = Module()
    multiples = m.submodules.multiples = DivisorMultiples(width)
    quotient = m.submodules.quotient = FeatureQuotient(width, width, shift)
    m.d.comb += [quotient.divisor.eq(multiples.value), quotient.high.eq(multiples.high),
                 quotient.low.eq(multiples.low), quotient.en.eq(multiples.en)]
    rng = random.Random(shift)
    signs = [rng.random() < 0.5 for _ in cases]
    ready = [rng.random() < 0.9 for _ in cases]
    got = []

    async def bench(ctx):
        # kline k's operands are presented with the divisor of kline k + 1, which the
        # multiples take at the same advance; a first advance loads kline 0's divisor
        presented = [None]
        for index in range(len(cases) + 1):
            while rng.random() < 0.3:       # a stall: nothing moves
                ctx.set(multiples.en, 0)
                await ctx.tick()
            magnitude, _ = cases[index - 1] if index else (0, 1)
            following = cases[index][1] if index < len(cases) else 1
            ctx.set(multiples.en, 1)
            ctx.set(multiples.load, 1)
            ctx.set(multiples.next, following)
            ctx.set(quotient.magnitude, magnitude)
            ctx.set(quotient.negative, signs[index - 1] if index else 0)
            ctx.set(quotient.ready, ready[index - 1] if index else 0)
            await ctx.tick()
            presented.append(index)
            if presented[-FeatureQuotient.latency]:     # index 0 loaded the divisor only
                got.append(ctx.get(quotient.code))
        for _ in range(FeatureQuotient.latency):
            ctx.set(multiples.load, 0)
            await ctx.tick()
            got.append(ctx.get(quotient.code))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    expected = [reference_code(n, s, d, shift) if r else 0
                for (n, d), s, r in zip(cases, signs, ready)]
    assert got[:len(expected)] == expected
    codes = set(expected)
    assert {127, -127, 0} <= codes and len(codes) > 100


def test_factors_cover_every_code():
    assert HIGH_FACTORS[-1] == 255 and LOW_FACTORS == tuple(range(2, 31, 2))


@pytest.mark.parametrize("count", [0, 1, 5, 7])
def test_thermometer_count_and_pick(count):
    m = Module()
    bits = Const((1 << count) - 1, 7)
    counted, picked, product = Signal(3), Signal(8), Signal(16)
    m.d.comb += [counted.eq(thermometer_count(bits)),
                 picked.eq(thermometer_pick(bits, [Const(10 * k, 8) for k in range(8)])),
                 product.eq(constant_product(m, Const(77, 8), 223))]

    async def bench(ctx):
        assert ctx.get(counted) == count
        assert ctx.get(picked) == 10 * count
        assert ctx.get(product) == 77 * 223

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("factors, levels, trees", [
    (HIGH_FACTORS, 2, 0), (LOW_FACTORS, 2, 0), ((6, 12, 24, 45, 3, 1, 1000), 2, 0),
    ((6, 12, 24, 45, 3, 1, 1000), 1, 2)])     # 45 and 125 need two levels: digit trees
def test_multiples_share_adders(factors, levels, trees):
    plan = multiples_plan(factors, levels)
    # every odd part once, each from two parts built before it, or a tree of its digits
    odd_parts = {f // (f & -f) for f in factors} - {1}
    assert set(plan) == odd_parts
    assert sum(pair[0] is None for _, *pair in plan.values()) == trees
    built = {1: 0}
    for odd, (depth, *pair) in plan.items():
        if pair[0] is not None:
            a, shift_a, sign, b, shift_b = pair
            assert {a, b} <= set(built) and (a << shift_a) + sign * (b << shift_b) == odd
            assert depth == max(built[a], built[b]) + 1 <= levels
        built[odd] = depth
    m = Module()
    value = Signal(12)
    products = [Signal(24, name=f"product_{f}") for f in factors]
    m.d.comb += [p.eq(q) for p, q in zip(products, multiples(m, value, factors, levels))]

    async def bench(ctx):
        for operand in (0, 1, 4095, 2731, 1234):
            ctx.set(value, operand)
            assert [ctx.get(p) for p in products] == [operand * f for f in factors]

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("factors, adders, digit_adders",
                         [(HIGH_FACTORS, 8, 12), (LOW_FACTORS, 7, 13)])
def test_quotient_multiples_take_one_adder_each(factors, adders, digit_adders):
    # one adder per odd part, where a product per factor over its signed digits takes
    # one adder fewer than it has digits
    plan = multiples_plan(factors, 2)
    assert len(plan) == adders and all(way[0] is not None for _, *way in plan.values())
    assert sum(len(csd(f)) - 1 for f in factors) == digit_adders
