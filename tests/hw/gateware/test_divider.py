"""The folded extractor's saturating serial divider against Python integer division: random
and corner operands."""

import random

import pytest
from amaranth.sim import Simulator

from hw.gateware.divider import SerialDivider


def expected(dividend, divisor, bits):
    limit = (1 << bits) - 1
    return limit if divisor == 0 else min(dividend // divisor, limit)


def operands(dividend_width, divisor_width, bits, count, seed):
    """Corners (zero, maxima, exact multiples, one off the saturation edge) then random
    operands, biased so most quotients land in the unsaturated range."""
    rng = random.Random(seed)
    top_n, top_d = (1 << dividend_width) - 1, (1 << divisor_width) - 1
    edge = 1 << bits
    cases = [(0, 1), (0, top_d), (top_n, top_d), (top_n, 1), (1, top_d), (5, 0), (0, 0),
             (top_d * (edge - 1), top_d), (top_d * edge - 1, top_d), (top_d * edge, top_d),
             (7 * (edge - 1), 7), (7 * edge - 1, 7), (7 * edge, 7)]
    cases = [(n, d) for n, d in cases if n <= top_n]
    while len(cases) < count:
        divisor = rng.randint(1, top_d) >> rng.randrange(divisor_width)
        dividend = min(divisor * rng.randrange(2 * edge) + rng.randrange(divisor + 1), top_n)
        if rng.random() < 0.2:
            dividend = rng.randint(0, top_n)
        cases.append((dividend, divisor))
    return cases


@pytest.mark.parametrize("dividend_width, divisor_width, bits, max_scale",
                         [(32, 32, 8, 21), (40, 40, 8, 5), (6, 5, 3, 3)])
def test_serial_divider(dividend_width, divisor_width, bits, max_scale):
    dut = SerialDivider(dividend_width, divisor_width, bits, max_scale)
    cases = operands(dividend_width, divisor_width, bits, 60, seed=max_scale)
    rng = random.Random(2)

    async def bench(ctx):
        for dividend, divisor in cases:
            scale = rng.randint(0, max_scale)
            dividend >>= scale  # keep the scaled quotient near the interesting range
            ctx.set(dut.dividend, dividend)
            ctx.set(dut.divisor, divisor)
            ctx.set(dut.scale, scale)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            busy = 0
            while ctx.get(dut.busy):
                await ctx.tick()
                busy += 1
            assert busy == dut.cycles(scale)
            assert ctx.get(dut.quotient) == expected(dividend << scale, divisor, bits), \
                (dividend, divisor, scale)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
