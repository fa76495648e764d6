"""cocotb bench of :class:`hw.board.top.LinkedCore`'s Verilog at the UART bit level.

The bench is a host on the two wires: it drives ``rx`` with real kline frames
(:mod:`sw.spec.frames`), not aligned to the clock, and decodes every byte the board puts on
``tx``. Reference: :func:`sw.spec.golden.run` over the same klines. Checked: the ready frame
(model id, declared latency), every result (sequence, signal, raw, warm) bit for bit, an
error frame for a corrupted frame with no kline lost around it, the on-chip latency of
every result equal to the declared latency, and the status LEDs at the end.

Settings (:func:`sim.runner.bench_settings`): ``model`` (artifact path), ``data`` (kline
file), ``count``, ``corrupt_at`` (kline index before which a corrupted frame is sent),
``bit_cycles`` and ``latency`` (the core's declared latency). Writes what it measured to
``results``.
"""

import io
import json
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, Timer

from hw.board.top import LED_ERROR, LED_WARM, ONE_HOT_CLASSES
from sim.runner import CLOCK_NS, bench_settings, timeout_ns
from sw.data.load import load
from sw.spec import artifact, frames, golden

SKEW_NS = 3  # the host's bits change between clock edges, as a real line does


async def send(dut, data: bytes, bit_ns: int):
    """Drive ``data`` as 8N1 onto ``dut.rx``."""
    for byte in data:
        for bit in [0, *((byte >> i) & 1 for i in range(8)), 1]:
            dut.rx.value = bit
            await Timer(bit_ns, unit="ns")


async def monitor(dut, bit_ns: int, sink: bytearray):
    """Append every 8N1 byte seen on ``dut.tx``, sampled mid-bit."""
    while True:
        await FallingEdge(dut.tx)
        await Timer(bit_ns // 2, unit="ns")
        bits = []
        for _ in range(10):
            bits.append(int(dut.tx.value))
            if len(bits) < 10:
                await Timer(bit_ns, unit="ns")
        assert bits[0] == 0 and bits[9] == 1, f"tx: bad start or stop bit in {bits}"
        sink.append(sum(bit << i for i, bit in enumerate(bits[1:9])))


def corrupted(frame: bytes) -> bytes:
    bad = bytearray(frame)
    bad[5] ^= 0x04
    return bytes(bad)


#: Bit times the bench waits after its last frame for the last result (and nothing more).
TAIL_BITS = 200 * 10


def deadline_ns(settings: dict) -> int:
    """Twice the bench's own schedule: every frame sent at 10 bits a byte, then the tail."""
    frame_bytes = len(frames.encode(frames.Reset())) + (settings["count"] + 1) * len(
        frames.encode_kline((0, 0, 0, 0, 0)))
    return 2 * (frame_bytes * 10 + TAIL_BITS + 4) * settings["bit_cycles"] * CLOCK_NS


@cocotb.test(timeout_time=timeout_ns(deadline_ns), timeout_unit="ns")
async def klines_over_uart(dut):
    config = bench_settings()
    model = artifact.load(config["model"])
    classes = len(model.classes)
    klines = load(config["data"])[:config["count"]]
    expected = golden.run(model, klines)
    rows, corrupt_at, latency = klines.rows(), config["corrupt_at"], config["latency"]
    bit_ns = config["bit_cycles"] * CLOCK_NS

    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    await Timer(SKEW_NS, unit="ns")
    received = bytearray()
    cocotb.start_soon(monitor(dut, bit_ns, received))

    outgoing = [frames.encode(frames.Reset())]
    outgoing += [frames.encode_kline(row) for row in rows]
    outgoing.insert(1 + corrupt_at, corrupted(outgoing[1 + corrupt_at]))
    await send(dut, b"".join(outgoing), bit_ns)

    want = ([frames.Ready(frames.VERSION, classes, latency, frames.model_id(model))]
            + [frames.Result(n % 256, int(expected.signal[n]),
                             tuple(int(r) for r in expected.raw[n]), bool(expected.warm[n]),
                             latency) for n in range(len(rows))])
    want.insert(1 + corrupt_at, frames.Error(frames.ErrorCode.BAD_CHECKSUM))
    total = sum(len(frames.encode(message)) for message in want)
    await Timer(TAIL_BITS * bit_ns, unit="ns")  # the last result, then nothing extra
    assert len(received) == total, f"{len(received)} bytes on tx, expected {total}"

    stream = io.BytesIO(bytes(received))
    got = [frames.decode(frames.read_frame(stream.read, classes), classes) for _ in want]
    wrong = [(n, w, g) for n, (w, g) in enumerate(zip(want, got)) if w != g]
    latencies = [g.latency for g in got if isinstance(g, frames.Result)]
    Path(config["results"]).write_text(json.dumps({
        "klines": len(rows), "replies_checked": len(got), "mismatches": len(wrong),
        "latency_min": min(latencies), "latency_max": max(latencies)}))
    assert not wrong, f"{len(wrong)} of {len(want)} replies differ, first: {wrong[:3]}"

    leds = int(dut.leds.value)
    last = int(expected.signal[-1])
    assert leds & ((1 << LED_WARM) - 1) == (1 << last if classes <= ONE_HOT_CLASSES
                                            else last), f"leds {leds:08b}"
    assert (leds >> LED_WARM) & 1 == int(expected.warm[-1]) and (leds >> LED_ERROR) & 1 == 1, \
        f"leds {leds:08b}"
    dut._log.info(f"{len(rows)} klines over UART: every reply bit-exact vs sw.spec.golden, "
                  f"latency {latency} cycles each, corrupted frame rejected")
