"""The saturating dividers against Python integer division: random and corner operands."""

import random
import re
import subprocess

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from hw.flow.build import KEEP_REGISTERS
from hw.flow.toolchain import find_tool
from hw.gateware.divider import PipelinedDivider, SerialDivider


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


@pytest.mark.parametrize("dividend_width, divisor_width, bits",
                         [(47, 32, 8), (61, 40, 8), (20, 12, 7), (10, 9, 3)])
def test_pipelined_divider(dividend_width, divisor_width, bits):
    dut = PipelinedDivider(dividend_width, divisor_width, bits)
    cases = operands(dividend_width, divisor_width, bits, 400, seed=bits)
    rng = random.Random(1)
    checked = []

    async def bench(ctx):
        presented = []  # operands of the cycles with en high, oldest first
        while len(checked) < len(cases):
            en = rng.random() < 0.8
            dividend, divisor = cases[len(presented)] if len(presented) < len(cases) else (0, 1)
            ctx.set(dut.en, en)
            ctx.set(dut.dividend, dividend)
            ctx.set(dut.divisor, divisor)
            await ctx.tick()
            if en:
                presented.append((dividend, divisor))
                out = len(presented) - dut.latency
                if 0 <= out < len(cases):
                    n, d = presented[out]
                    assert ctx.get(dut.quotient) == expected(n, d, bits), (n, d)
                    checked.append((n, d))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert checked == cases


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


def test_dividers_sharing_a_divisor_keep_their_own_pipelines(tmp_path):
    """Dividers by the same divisor: Yosys merges their identical divisor pipelines unless
    the build's ``KEEP_REGISTERS`` step runs first; then two dividers have exactly twice
    the flip-flops of one, each its own copy next to its own subtractors."""
    class Dividers(wiring.Component):
        def __init__(self, count):
            self._count = count
            super().__init__({"dividends": In(20 * count), "divisor": In(12),
                              "quotients": Out(8 * count)})

        def elaborate(self, platform):
            m = Module()
            for k in range(self._count):
                divider = m.submodules[f"divider_{k}"] = PipelinedDivider(20, 12, 8)
                m.d.comb += [divider.en.eq(1), divider.dividend.eq(self.dividends[20 * k:][:20]),
                             divider.divisor.eq(self.divisor),
                             self.quotients[8 * k:][:8].eq(divider.quotient)]
            return m

    def flip_flops(count, *commands):
        (tmp_path / "dividers.il").write_text(rtlil.convert(Dividers(count)))
        script = "; ".join(["read_rtlil dividers.il", *commands, "synth_ecp5 -top top"])
        log = subprocess.run([find_tool("yosys"), "-p", script], cwd=tmp_path, check=True,
                             capture_output=True, text=True).stdout
        return int(re.findall(r"^ +(\d+) +TRELLIS_FF$", log, re.MULTILINE)[-1])

    one = flip_flops(1, KEEP_REGISTERS)
    assert flip_flops(2, KEEP_REGISTERS) == 2 * one
    assert flip_flops(2) < 2 * one - 4 * 12     # merged: at least 4 stages of divisor
