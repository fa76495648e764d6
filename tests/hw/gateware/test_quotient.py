"""FeatureQuotient with DivisorReciprocal against the spec's codes
(:func:`sw.spec.features.codes`): every rounding edge (``|num|`` one below, at and one
above each step of ``m``), denominators at and beside powers of two, saturation, zero, the
widest operands, and pipeline stalls."""

import random

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from hw.gateware.quotient import DivisorReciprocal, FeatureQuotient
from sw.spec.features import PRODUCT_SHIFT, WINDOW_LIMIT, WINDOW_SHIFT, codes, reciprocal


def operands(width: int, shift: int, count: int, seed: int):
    """(magnitude, divisor) pairs at every rounding edge, at saturation and at random."""
    rng = random.Random(seed)
    top = (1 << width) - 1
    cases = [(0, 1), (top, 1), (top, top), (0, top), (1, top), (top >> 1, top)]
    while len(cases) < count:
        if rng.random() < 0.3:      # beside a power of two: the exponent's edges
            power = 1 << rng.randrange(width)
            divisor = min(max(power + rng.choice([-1, 0, 1]), 1), top)
        else:
            divisor = max(rng.randint(1, top) >> rng.randrange(width), 1)
        (exponent,), (r,) = reciprocal(np.array([divisor]))
        # the first u with m >= k (m steps every 2**13 / r), then the first |num| giving it
        k = rng.randint(1, 300)
        u = min(-(-(k << PRODUCT_SHIFT) // int(r)), WINDOW_LIMIT + rng.randint(-2, 2))
        edge = -(-(u << int(exponent)) >> (shift + WINDOW_SHIFT))
        magnitude = edge + rng.choice([-1, 0, 1]) if rng.random() < 0.8 else rng.randint(0, top)
        cases.append((min(max(magnitude, 0), top), divisor))
    return cases


@pytest.mark.parametrize("width, shift", [(32, 14), (32, 0), (36, 3), (32, 20), (12, 5)])
def test_feature_quotient_matches_the_spec(width, shift):
    cases = operands(width, shift, 500, seed=width + shift)
    m = Module()
    divisor = m.submodules.divisor = DivisorReciprocal(width)
    quotient = m.submodules.quotient = FeatureQuotient(width, width, shift)
    m.d.comb += [quotient.exponent.eq(divisor.exponent),
                 quotient.reciprocal.eq(divisor.reciprocal), quotient.en.eq(divisor.en)]
    rng = random.Random(shift)
    signs = [rng.random() < 0.5 for _ in cases]
    ready = [rng.random() < 0.9 for _ in cases]
    got = []

    async def bench(ctx):
        # kline k's operands are presented with the divisor of kline k + 1, which the
        # divisor takes at the same advance; a first advance loads kline 0's divisor
        presented = [None]
        for index in range(len(cases) + 1):
            while rng.random() < 0.3:       # a stall: nothing moves
                ctx.set(divisor.en, 0)
                ctx.set(divisor.load, 0)
                await ctx.tick()
            magnitude, _ = cases[index - 1] if index else (0, 1)
            following = cases[index][1] if index < len(cases) else 1
            ctx.set(divisor.en, 1)
            ctx.set(divisor.load, 1)
            ctx.set(divisor.next, following)
            ctx.set(quotient.magnitude, magnitude)
            ctx.set(quotient.negative, signs[index - 1] if index else 0)
            ctx.set(quotient.ready, ready[index - 1] if index else 0)
            await ctx.tick()
            presented.append(index)
            if presented[-FeatureQuotient.latency]:     # index 0 loaded the divisor only
                got.append(ctx.get(quotient.code))
        for _ in range(FeatureQuotient.latency):
            ctx.set(divisor.load, 0)
            await ctx.tick()
            got.append(ctx.get(quotient.code))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    magnitudes, divisors = (np.array(column) for column in zip(*cases))
    expected = [int(c) if r else 0 for c, r in
                zip(codes(np.where(signs, -magnitudes, magnitudes), divisors, shift), ready)]
    assert got[:len(expected)] == expected
    assert {127, -127, 0} <= set(expected) and len(set(expected)) > 100


def test_reciprocal_table_edges():
    exponent, r = reciprocal(np.array([1, 255, 256, 511, 512, (1 << 36) - 1]))
    assert list(exponent) == [0, 7, 8, 8, 9, 35]
    # M = 256 (a power of two): 2**17 / 256 exactly; M = 511: round(256.5) = 257
    assert list(r) == [512, 257, 512, 257, 512, 257]
