"""FeatureExtractor (parallel and folded) against the integer spec sw.features, in amaranth.sim.

A producer and a consumer coroutine drive the two streams (optionally with random gaps in
valid and ready); a monitor records every handshake, so the checks see exactly what crossed
each interface and when.
"""

import random

import numpy as np
import pytest
from amaranth.hdl import ResetInserter, Signal
from amaranth.sim import Simulator

from hw.features import FeatureExtractor
from sw.features import FEATURES, FeatureSpec, features_int, warm
from sw.klines import FIELDS, INSTRUMENTS, WORD_BITS, Klines

SPEC = FeatureSpec()
MAX = 2 ** WORD_BITS - 1


def klines_of(rows):
    """Klines from (open, high, low, close, volume) tuples; the hardware needs no times."""
    matrix = np.array(rows, dtype=np.int64).reshape(-1, 5)
    columns = {name: matrix[:, n] for n, name in enumerate(FIELDS)}
    return Klines(INSTRUMENTS[("linear", "BTCUSDT")], "5",
                  np.arange(len(rows), dtype=np.int64) * 300_000, **columns, synthetic=True)


def golden(klines, spec):
    return [(tuple(int(x) for x in row), bool(w))
            for row, w in zip(features_int(klines, spec), warm(klines, spec))]


def pack(row):
    return sum(value << (WORD_BITS * n) for n, value in enumerate(row))


def unpack(value, count):
    codes = tuple(((value >> (8 * n)) & 0xFF) - (((value >> (8 * n)) & 0x80) << 1)
                  for n in range(count))
    return codes, bool(value >> (8 * count) & 1)


def simulate(spec, rows, *, folded, in_gaps=0.0, out_gaps=0.0, reset_at=None, seed=0):
    """Run ``rows`` through the extractor; returns ``(outputs, in_cycles, out_cycles,
    dut)``: decoded outputs in order, and the cycle of each input/output handshake.

    ``reset_at``: assert the synchronous reset for one cycle right after that many input
    handshakes (klines in flight are lost); outputs are then split as (before, after)."""
    dut = FeatureExtractor(spec, folded=folded)
    reset = Signal()
    rng_in, rng_out = random.Random(seed), random.Random(seed + 1)
    count = len(spec.names)
    outputs, in_cycles, out_cycles = [[], []], [], []
    done = []

    async def producer(ctx):
        for n, row in enumerate(rows):
            while rng_in.random() < in_gaps:
                await ctx.tick()
            ctx.set(dut.i.payload.as_value(), pack(row))
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)
            if n + 1 == reset_at:
                ctx.set(reset, 1)
                await ctx.tick()
                ctx.set(reset, 0)
        done.append(True)

    async def consumer(ctx):
        while True:
            ctx.set(dut.o.ready, rng_out.random() >= out_gaps)
            await ctx.tick()

    async def monitor(ctx):
        cycle, part = 0, 0
        async for _, _, i_valid, i_ready, o_valid, o_ready, payload, in_reset in \
                ctx.tick().sample(dut.i.valid, dut.i.ready, dut.o.valid, dut.o.ready,
                                  dut.o.payload.as_value(), reset):
            if in_reset:
                part = 1
            else:
                if i_valid and i_ready:
                    in_cycles.append(cycle)
                if o_valid and o_ready:
                    outputs[part].append(unpack(payload, count))
                    out_cycles.append(cycle)
            cycle += 1
            expected = len(rows) - (reset_at or 0) if part else len(rows)
            if done and len(outputs[part]) == expected:
                return
            assert cycle < 50 + (len(rows) + 4) * dut.ii * 20, "stream stalled"

    sim = Simulator(ResetInserter(reset)(dut))
    sim.add_clock(1e-8)
    sim.add_testbench(producer, background=True)
    sim.add_testbench(consumer, background=True)
    sim.add_testbench(monitor)
    sim.run()
    result = outputs if reset_at is not None else outputs[0]
    return result, in_cycles, out_cycles, dut


def extremes():
    """Hand-made klines: limit moves both ways, zero volume, 32-bit maxima, tiny prices,
    a long gap (nothing in the data marks it), and warm-up after each change of regime."""
    rows = [(100, 100, 100, 100, 5)] * 3                       # flat, warming up
    rows += [(100, 200, 1, 199, 0)]                           # huge up move, zero volume
    rows += [(200, 200, 1, 1, 0)] * 20                        # limit down, S goes to 0
    rows += [(1, 2, 1, 2, 0), (2, 2, 1, 1, 7)]                # tiny prices; S == 0 then v > 0
    rows += [(MAX, MAX, MAX - 1, MAX, MAX)] * 18              # largest prices and volumes
    rows += [(MAX, MAX, 1, 1, MAX), (1, MAX, 1, MAX, 0)]      # full-range moves, v == 0, S > 0
    rows += [(30_000_0, 30_010_0, 29_990_0, 30_005_0, 1234)] * 20
    rows += [(90_000_0, 90_000_0, 90_000_0, 90_000_0, 1)]     # after a "gap": 3x price
    rows += [(3, 4, 2, 3, 1), (MAX, MAX, MAX, MAX, 1), (1, 1, 1, 1, MAX)] * 6
    return rows


def real_rows(klines, count):
    return klines[:count].rows()


@pytest.mark.parametrize("folded", [False, True], ids=["parallel", "folded"])
def test_real_klines_bit_exact(klines_5m, folded):
    count = 3000 if not folded else 400
    rows = real_rows(klines_5m, count)
    outputs, *_ = simulate(SPEC, rows, folded=folded)
    assert outputs == golden(klines_of(rows), SPEC)


def test_full_dataset_parallel(klines_5m):
    rows = klines_5m.rows()
    outputs, *_ = simulate(SPEC, rows, folded=False)
    assert outputs == golden(klines_of(rows), SPEC)


@pytest.mark.parametrize("folded", [False, True], ids=["parallel", "folded"])
def test_extremes(folded):
    rows = extremes()
    spec = FeatureSpec(FEATURES, (20, 0, 7, 8, 3, 20, 20), volume_window=4)
    for each in (spec, SPEC):
        expected = golden(klines_of(rows), each)
        codes = [c for row, _ in expected for c in row]
        assert 127 in codes and -127 in codes  # the extremes do reach saturation
        outputs, *_ = simulate(each, rows, folded=folded)
        assert outputs == expected


@pytest.mark.parametrize("folded", [False, True], ids=["parallel", "folded"])
def test_backpressure(klines_5m, folded):
    rows = real_rows(klines_5m, 600 if not folded else 60) + extremes()
    outputs, *_ = simulate(SPEC, rows, folded=folded, in_gaps=0.4, out_gaps=0.5, seed=7)
    assert outputs == golden(klines_of(rows), SPEC)


@pytest.mark.parametrize("folded", [False, True], ids=["parallel", "folded"])
def test_reset_mid_stream(klines_5m, folded):
    rows = real_rows(klines_5m, 200 if not folded else 45)
    split = len(rows) * 2 // 3
    (before, after), *_ = simulate(SPEC, rows, folded=folded, in_gaps=0.2, out_gaps=0.2,
                                   reset_at=split, seed=3)
    assert before == golden(klines_of(rows[:split]), SPEC)[:len(before)]
    assert after == golden(klines_of(rows[split:]), SPEC)


@pytest.mark.parametrize("folded", [False, True], ids=["parallel", "folded"])
@pytest.mark.parametrize("spec", [SPEC, FeatureSpec(("volume", "body"), (9, 2), 256),
                                  FeatureSpec(("range",), (20,), 2)],
                         ids=["default", "volume256", "range"])
def test_latency_and_ii(klines_5m, folded, spec):
    rows = real_rows(klines_5m, 300 if spec.volume_window == 256 else 40)
    outputs, in_cycles, out_cycles, dut = simulate(spec, rows, folded=folded)
    assert outputs == golden(klines_of(rows), spec)
    assert {o - i for i, o in zip(in_cycles, out_cycles)} == {dut.latency}
    assert set(np.diff(in_cycles)) == {dut.ii}
