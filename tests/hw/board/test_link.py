"""UartLink at the bit level (amaranth.sim): the testbench plays the host on the UART lines
and the core on the kline/result streams, so every latency is known to the cycle. And the
FrameParser alone, byte by byte, where a cycle matters more than a line."""

import io

import pytest
from amaranth.sim import Simulator

from hw.board.link import FrameParser, UartLink
from sw.spec import frames
from sw.spec.frames import TEST_VECTORS, Error, ErrorCode, Kline, Ready, Result
from sw.spec.klines import FIELDS
from tests.uart_sim import bits_of, receive, send

BIT = 8
TIMEOUT_BYTES = 4
DECLARED_LATENCY, MODEL_ID = 33, 0xDEADBEEF
KLINE_FRAMES = [(frame, message) for frame, message in TEST_VECTORS if isinstance(message, Kline)]
GOOD = frames.encode(Kline(1, 2, 3, 4, 5))


def make_link() -> UartLink:
    return UartLink(3, clk_freq=BIT, baud=1, latency=DECLARED_LATENCY, model_id=MODEL_ID,
                    timeout_bytes=TIMEOUT_BYTES)


def as_payload(result: Result) -> dict:
    return {"signal": result.signal, "raw": list(result.raw), "warm": int(result.warm)}


def simulate(link, host, core, replies: int, *, deadline=400_000):
    """Run ``host(ctx)`` and the ``core(ctx)`` stand-in (plus any other background
    testbenches in ``core`` if it is a list); return the first ``replies`` frames on tx."""
    received = []

    async def listen(ctx):
        data = bytearray()
        for _ in range(replies):
            head = await receive(ctx, link.tx, 2, BIT, timeout=deadline)
            rest = frames.payload_length(head[1], 3) + 1
            data += head + await receive(ctx, link.tx, rest, BIT, timeout=deadline)
        read = io.BytesIO(bytes(data)).read
        received.extend(frames.read_frame(read) for _ in range(replies))

    sim = Simulator(link)
    sim.add_clock(1e-6)
    sim.add_testbench(host)
    for bench in core if isinstance(core, list) else [core]:
        sim.add_testbench(bench, background=True)
    sim.add_testbench(listen)
    sim.run()
    return received


def core_stand_in(link, results, klines, latencies=None):
    """Take a kline, answer ``latency`` cycles later (handshake to handshake), in order."""
    async def core(ctx):
        for n, result in enumerate(results):
            ctx.set(link.kline.ready, 1)
            payload, = await ctx.tick().sample(link.kline.payload).until(link.kline.valid)
            ctx.set(link.kline.ready, 0)
            klines.append(Kline(*(int(getattr(payload, name)) for name in FIELDS)))
            latency = latencies[n] if latencies else result.latency
            if latency > 1:
                await ctx.tick().repeat(latency - 1)
            ctx.set(link.result.payload, as_payload(result))
            ctx.set(link.result.valid, 1)
            await ctx.tick().until(link.result.ready)
            ctx.set(link.result.valid, 0)
    return core


def test_test_vectors_bit_serially():
    link = make_link()
    results = [m for _, m in TEST_VECTORS if isinstance(m, Result) and m.seq < 2]
    results.append(Result(2, 1, (5, 6, 7), True, 40))
    klines = []

    async def host(ctx):
        await send(ctx, link.rx, b"".join(frame for frame, _ in KLINE_FRAMES), BIT)

    got = simulate(link, host, core_stand_in(link, results, klines), len(results))
    assert klines == [message for _, message in KLINE_FRAMES]
    assert got == [frames.encode(r) for r in results]
    assert got[:2] == [f for f, m in TEST_VECTORS if isinstance(m, Result) and m.seq < 2]


def corrupted(frame: bytes, at: int) -> bytes:
    bad = bytearray(frame)
    bad[at] ^= 0x10
    return bytes(bad)


def test_bad_frames_are_answered_and_the_next_ones_work():
    link = make_link()
    results = [Result(n, n % 3, (n, -n, 0), n % 2 == 0, 5) for n in range(4)]
    klines = []

    async def host(ctx):
        await send(ctx, link.rx, GOOD + corrupted(GOOD, 9) + GOOD, BIT)          # checksum
        await send(ctx, link.rx, bytes([frames.SYNC, 0x5A]) + GOOD, BIT)         # type
        await send(ctx, link.rx, GOOD[:10], BIT)                                 # timeout
        await ctx.tick().repeat(TIMEOUT_BYTES * 10 * BIT + 10)
        for bit in bits_of(0x42, stop=0):                                        # framing
            ctx.set(link.rx, bit)
            await ctx.tick().repeat(BIT)
        ctx.set(link.rx, 1)
        await ctx.tick().repeat(BIT)                 # the line goes idle after a break
        await send(ctx, link.rx, GOOD, BIT)

    got = simulate(link, host, core_stand_in(link, results, klines), 8)
    codes = [ErrorCode.BAD_CHECKSUM, ErrorCode.BAD_TYPE, ErrorCode.TIMEOUT, ErrorCode.FRAMING]
    assert [frames.decode(f) for f in got] == [
        results[0], Error(codes[0]), results[1], Error(codes[1]), results[2], Error(codes[2]),
        Error(codes[3]), results[3]]
    assert klines == [Kline(1, 2, 3, 4, 5)] * 4


def test_reset_is_answered_with_ready_and_restarts_the_sequence():
    link = make_link()
    results = [Result(0, 1, (1, 2, 3), False, 4)] * 3
    klines, resets = [], []

    async def host(ctx):
        await send(ctx, link.rx, GOOD * 2 + frames.encode(frames.Reset()) + GOOD, BIT)

    async def watch(ctx):
        async for _, _, reset in ctx.tick().sample(link.core_reset):
            resets.append(reset)

    got = simulate(link, host, [core_stand_in(link, results, klines), watch], 4)
    assert [frames.decode(f) for f in got] == [
        results[0], Result(1, 1, (1, 2, 3), False, 4), Ready(1, 3, DECLARED_LATENCY, MODEL_ID),
        results[0]]
    # high while the link itself is in reset (its initial state here), then one pulse
    assert resets[0] == 1 and sum(resets[1:]) == 1


def test_backpressure_stalls_the_core_and_loses_nothing():
    """The core stand-in answers nothing until all five kline frames have arrived: the fifth
    kline waits in the parser for a stamp slot. Then it offers every result at once: each
    waits for the line, none is lost, and each latency counts the cycles it waited."""
    link = make_link()
    count, all_sent = 5, 5 * 23 * 10 * BIT + 20 * BIT
    opens, taken, done = [], [], []

    async def host(ctx):
        await send(ctx, link.rx, b"".join(frames.encode(Kline(n, 0, 0, 0, n))
                                          for n in range(count)), BIT)

    async def core(ctx):
        cycle = 0
        ctx.set(link.kline.ready, 1)
        async for _, _, kline_valid, kline, result_ready in ctx.tick().sample(
                link.kline.valid, link.kline.payload, link.result.ready):
            cycle += 1                                  # the edge just sampled
            if kline_valid and ctx.get(link.kline.ready):
                opens.append(int(kline.open))
                taken.append(cycle)
            if ctx.get(link.result.valid) and result_ready:
                done.append(cycle)
            ctx.set(link.kline.ready, len(opens) < count)
            answer = cycle >= all_sent and len(done) < len(opens)
            ctx.set(link.result.valid, answer)
            n = len(done)
            ctx.set(link.result.payload, as_payload(Result(n, 0, (n, 0, 0), True, 0)))
            if len(done) == count:
                return

    got = simulate(link, host, core, count)
    assert opens == list(range(count))
    assert taken[4] == done[0] + 1                      # a stamp slot freed, not before
    latencies = [d - t for d, t in zip(done, taken)]
    assert [frames.decode(f) for f in got] == [
        Result(n, 0, (n, 0, 0), True, latencies[n]) for n in range(count)]
    # each result waits until the previous frame's last byte is in the transmitter
    assert all(b - a >= 12 * 10 * BIT for a, b in zip(done, done[1:]))


RESET = frames.encode(frames.Reset())
NEXT = frames.encode(Kline(6, 7, 8, 9, 10))


@pytest.mark.parametrize("frame, at", [(GOOD, 1), (GOOD, 2), (GOOD, 21), (GOOD, 22),
                                       (RESET, 1), (RESET, 2), (bytes([frames.SYNC, 0x5A]), 1)],
                         ids=["type", "first payload", "last payload", "crc",
                              "reset type", "reset crc", "bad type"])
def test_an_abort_with_a_byte_taken_drops_the_frame(frame, at):
    """``abort`` in the very cycle a frame's byte ``at`` (TYPE, PAYLOAD or CRC) is taken:
    the frame is dropped silently (a good one too, and a bad type is not reported), and
    the next frame gets through."""
    assert frames.SYNC not in frame[at:]       # the rest of it is hunted through
    parser = FrameParser(timeout_cycles=1000)
    klines, errors, resets = [], [], []

    async def host(ctx):
        ctx.set(parser.i.valid, 1)
        for n, byte in enumerate(frame + NEXT):
            ctx.set(parser.i.payload, byte)
            ctx.set(parser.abort, n == at)
            if n == at:
                assert ctx.get(parser.i.ready)
            await ctx.tick().until(parser.i.ready)
        ctx.set(parser.i.valid, 0)
        ctx.set(parser.abort, 0)
        await ctx.tick().repeat(10)

    async def core(ctx):
        ctx.set(parser.kline.ready, 1)
        async for _, _, valid, payload, error, reset in ctx.tick().sample(
                parser.kline.valid, parser.kline.payload, parser.error, parser.reset):
            if valid:
                klines.append(Kline(*(int(getattr(payload, name)) for name in FIELDS)))
            if error:
                errors.append(error)
            resets.append(reset)

    sim = Simulator(parser)
    sim.add_clock(1e-6)
    sim.add_testbench(host)
    sim.add_testbench(core, background=True)
    sim.run()
    assert klines == [frames.decode(NEXT)]
    assert errors == [] and sum(resets) == 0


def test_parser_busy_from_sync_until_hunting_again():
    """``busy``: from the cycle after ``SYNC`` is taken, through ``CHECK`` (a reset frame)
    or until the kline is taken (a kline frame), then low while hunting."""
    parser = FrameParser(timeout_cycles=1000)
    stall = 3
    trace = []

    async def host(ctx):
        ctx.set(parser.i.valid, 1)
        for byte in b"\x00" + RESET + GOOD:
            ctx.set(parser.i.payload, byte)
            await ctx.tick().until(parser.i.ready)
        ctx.set(parser.i.valid, 0)
        await ctx.tick().until(parser.kline.valid)
        await ctx.tick().repeat(stall)
        ctx.set(parser.kline.ready, 1)
        await ctx.tick().repeat(3)

    async def watch(ctx):
        async for _, _, busy, taken in ctx.tick().sample(
                parser.busy, parser.i.valid & parser.i.ready):
            trace.append((busy, taken))

    sim = Simulator(parser)
    sim.add_clock(1e-6)
    sim.add_testbench(host)
    sim.add_testbench(watch, background=True)
    sim.run()
    busy = "".join("B" if high else "." for high, _ in trace)
    kline_bytes = len(GOOD) - 1      # TYPE, payload and CRC: SYNC is taken while hunting
    assert busy == ("."                                  # a junk byte
                    + "." + "BB" + "B"                   # reset frame: SYNC, TYPE, CRC; CHECK
                    + "." + "B" * kline_bytes + "B"      # kline frame; CHECK
                    + "B" * (1 + stall + 1)              # EMIT: offered, stalled, taken
                    + "..")
