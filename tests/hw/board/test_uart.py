"""UART receiver and transmitter at the bit level (amaranth.sim)."""

import random

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from hw.board.uart import BaudRateError, UartRx, UartTx, bit_cycles
from tests.uart_sim import bits_of, receive, send

BIT = 8  # clocks per bit: fast to simulate, and the tightest divisor a board would use


def simulate(dut, *testbenches, background=(), deadline=None):
    """Run ``testbenches`` (and ``background`` ones) on ``dut`` at one cycle per µs, until
    they end or, with ``deadline``, for that many cycles."""
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for bench in testbenches:
        sim.add_testbench(bench)
    for bench in background:
        sim.add_testbench(bench, background=True)
    if deadline is None:
        sim.run()
    else:
        sim.run_until(deadline * 1e-6)


async def put(ctx, port, data: bytes):
    """Offer ``data`` on the byte stream ``port``, back to back, one byte per handshake."""
    ctx.set(port.valid, 1)
    for byte in data:
        ctx.set(port.payload, byte)
        await ctx.tick().until(port.ready)
    ctx.set(port.valid, 0)


def test_loopback_with_backpressure():
    rx, tx = UartRx(clk_freq=BIT, baud=1), UartTx(clk_freq=BIT, baud=1)
    m = Module()
    m.submodules.rx, m.submodules.tx = rx, tx
    m.d.comb += rx.rx.eq(tx.tx)
    data = bytes(random.Random(1).randrange(256) for _ in range(40)) + b"\x00\xff"
    got, errors = bytearray(), []

    async def producer(ctx):
        await put(ctx, tx.i, data)

    async def consumer(ctx):
        delays = random.Random(2)
        while len(got) < len(data):
            ctx.set(rx.o.ready, 0)
            await ctx.tick().repeat(delays.randrange(1, 5 * BIT))  # less than a byte time
            ctx.set(rx.o.ready, 1)
            payload, = await ctx.tick().sample(rx.o.payload).until(rx.o.valid)
            got.append(payload)

    async def monitor(ctx):
        async for _, _, framing, overrun in ctx.tick().sample(rx.framing_error, rx.overrun):
            if framing or overrun:
                errors.append((framing, overrun))

    simulate(m, producer, consumer, background=[monitor], deadline=len(data) * 12 * BIT)
    assert bytes(got) == data
    assert errors == []


def test_tx_bit_timing():
    tx = UartTx(clk_freq=BIT, baud=1)
    data = b"\x55\xa5\x00\xff"
    got = []

    async def producer(ctx):
        await put(ctx, tx.i, data)

    async def line(ctx):
        got.append(await receive(ctx, tx.tx, len(data), BIT))

    simulate(tx, producer, line, deadline=len(data) * 11 * BIT + 100)
    assert got == [data]


def rx_bench(rx, drive, events):
    async def monitor(ctx):
        ctx.set(rx.o.ready, 1)
        async for _, _, valid, payload, framing, overrun in ctx.tick().sample(
                rx.o.valid, rx.o.payload, rx.framing_error, rx.overrun):
            if valid:
                events.append(payload)
            if framing:
                events.append("framing")
            if overrun:
                events.append("overrun")
    simulate(rx, drive, background=[monitor])


def test_rx_framing_error_break_and_glitch():
    rx = UartRx(clk_freq=BIT, baud=1)
    events = []

    async def drive(ctx):
        await send(ctx, rx.rx, b"\x3c", BIT)
        for bit in bits_of(0x81, stop=0) + [0] * 30:  # low stop bit, then a break
            ctx.set(rx.rx, bit)
            await ctx.tick().repeat(BIT)
        ctx.set(rx.rx, 1)
        await ctx.tick().repeat(2 * BIT)
        ctx.set(rx.rx, 0)                            # a glitch shorter than half a bit
        await ctx.tick().repeat(BIT // 2 - 2)
        ctx.set(rx.rx, 1)
        await ctx.tick().repeat(2 * BIT)
        await send(ctx, rx.rx, b"\xc3", BIT)
        await ctx.tick().repeat(4 * BIT)

    rx_bench(rx, drive, events)
    assert events == [0x3C, "framing", 0xC3]


def test_rx_overrun_keeps_the_first_byte():
    rx = UartRx(clk_freq=BIT, baud=1)
    got, overruns = [], []

    async def drive(ctx):
        await send(ctx, rx.rx, b"\x11\x22\x33", BIT)
        assert ctx.get(rx.o.valid)
        got.append(ctx.get(rx.o.payload))

    async def count(ctx):
        async for _, _, overrun in ctx.tick().sample(rx.overrun):
            overruns.append(overrun)

    simulate(rx, drive, background=[count])
    assert got == [0x11] and sum(overruns) == 2


@pytest.mark.parametrize("clk_freq, baud, message", [
    (100e3, 115200, "too slow for 115200 baud"),
    (1e6, 115200, "off by 3.5%"),
    (12e6, 0, "must be positive"),
])
def test_bad_baud_rates(clk_freq, baud, message):
    with pytest.raises(BaudRateError, match=message):
        bit_cycles(clk_freq, baud)


def test_divisors_of_real_boards():
    assert bit_cycles(12e6, 115200) == 104
    assert bit_cycles(25e6, 115200) == 217
    assert bit_cycles(48e6, 1_000_000) == 48


def test_busy_from_the_start_bit_until_idle():
    """``busy`` rises three cycles after the start bit's falling edge and falls as the byte
    is offered, in the middle of its stop bit (three cycles later than on the wire)."""
    rx = UartRx(clk_freq=BIT, baud=1)
    trace = []

    async def line(ctx):
        ctx.set(rx.o.ready, 1)
        await ctx.tick().repeat(3 * BIT)
        await send(ctx, rx.rx, b"\x5a", BIT)
        await ctx.tick().repeat(3 * BIT)

    async def watch(ctx):
        async for _, _, busy, valid in ctx.tick().sample(rx.busy, rx.o.valid):
            trace.append((busy, valid))

    simulate(rx, line, background=[watch])
    busy = [cycle for cycle, (high, _) in enumerate(trace) if high]
    offered = next(cycle for cycle, (_, valid) in enumerate(trace) if valid)
    start = 3 * BIT     # the cycle the line falls
    assert busy == list(range(busy[0], busy[-1] + 1))          # one stretch
    seen = start + 3    # two synchroniser cycles, then the state register
    assert busy[0] == seen
    assert busy[-1] + 1 == offered == seen + 9 * BIT + BIT // 2   # mid stop bit
