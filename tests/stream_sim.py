"""amaranth.sim bench for a component with ``i`` / ``o`` streams: a producer and a consumer
coroutine with random gaps in ``valid`` and ``ready``, and a monitor that records every
handshake and the cycle it happened in.

Payloads are flat integers (first field in the least significant bits, as in
:mod:`hw.gateware.layouts`); :func:`pack_vector` / :func:`unpack_vector` convert INT8 vectors with a
``warm`` bit on top.
"""

import random
from dataclasses import dataclass, field

from amaranth.hdl import ResetInserter, Signal
from amaranth.sim import Simulator

from sw.spec.features import features_int, warm


def pack_vector(codes, warm) -> int:
    value = sum((int(c) & 0xFF) << (8 * n) for n, c in enumerate(codes))
    return value | int(bool(warm)) << (8 * len(codes))


def feature_vectors(klines, spec) -> list[tuple[tuple, bool]]:
    """The spec's feature codes and ``warm`` bit of each kline
    (:func:`sw.spec.features.features_int`, :func:`~sw.spec.features.warm`), as
    :func:`unpack_vector` gives them back from a feature extractor's output."""
    return [(tuple(int(x) for x in row), bool(w))
            for row, w in zip(features_int(klines, spec), warm(klines, spec))]


def unpack_vector(value: int, count: int, low: int = 0) -> tuple[tuple, bool]:
    """INT8 codes starting at bit ``low``, and the bit above them (``warm``)."""
    codes = tuple(((value >> (low + 8 * n)) & 0xFF ^ 0x80) - 0x80 for n in range(count))
    return codes, bool(value >> (low + 8 * count) & 1)


@dataclass
class Run:
    outputs: list = field(default_factory=list)     # payloads, in order
    in_cycles: list = field(default_factory=list)   # cycle of each input handshake
    out_cycles: list = field(default_factory=list)  # cycle of each output handshake
    after_reset: list = field(default_factory=list)  # payloads after the reset, if any
    tapped: list = field(default_factory=list)  # per tap, its payloads while valid, in order


def simulate(dut, payloads, *, in_gaps=0.0, out_gaps=0.0, gap_items=None, reset_at=None,
             seed=0, isolated=False, timeout_per_item=None, taps=()) -> Run:
    """Push ``payloads`` through ``dut``.

    ``in_gaps`` / ``out_gaps``: probability of a cycle without ``valid`` / ``ready``, for the
    first ``gap_items`` inputs / outputs (all by default), then none. ``isolated``: each
    input waits until the previous output left (to measure latency through an idle
    pipeline). ``reset_at``: one cycle of synchronous reset right after that many input
    handshakes; outputs seen after it go to ``Run.after_reset``. ``taps``: ``(valid,
    payload)`` pairs inside ``dut`` (a stage's output that never stalls) whose payloads are
    recorded in ``Run.tapped`` in every cycle ``valid`` is high outside the reset."""
    reset = Signal()
    rng_in, rng_out = random.Random(seed), random.Random(seed + 1)
    gap_items = len(payloads) if gap_items is None else gap_items
    expected = len(payloads)
    run, done = Run(tapped=[[] for _ in taps]), []
    tap_signals = [signal for tap in taps for signal in tap]
    timeout = 100 + len(payloads) * (timeout_per_item or 20 * dut.ii + dut.latency)

    async def producer(ctx):
        ctx.set(dut.i.valid, 0)
        for n, payload in enumerate(payloads):
            if isolated:
                while len(run.outputs) < n:
                    await ctx.tick()
            while n < gap_items and rng_in.random() < in_gaps:
                await ctx.tick()
            ctx.set(dut.i.payload.as_value(), payload)
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)
            if n + 1 == reset_at:
                ctx.set(reset, 1)
                await ctx.tick()
                ctx.set(reset, 0)
        done.append(True)

    async def consumer(ctx):
        taken = 0
        while taken < gap_items and out_gaps:
            ready = rng_out.random() >= out_gaps
            ctx.set(dut.o.ready, ready)
            _, _, valid = await ctx.tick().sample(dut.o.valid)
            taken += bool(valid and ready)
        ctx.set(dut.o.ready, 1)

    async def monitor(ctx):
        cycle, outputs, drain = 0, run.outputs, None
        want = expected - reset_at if reset_at else expected
        async for _, _, i_valid, i_ready, o_valid, o_ready, payload, in_reset, *tapped in \
                ctx.tick().sample(dut.i.valid, dut.i.ready, dut.o.valid, dut.o.ready,
                                  dut.o.payload.as_value(), reset, *tap_signals):
            for values, valid, value in zip(run.tapped, tapped[::2], tapped[1::2]):
                if valid and not in_reset:
                    values.append(value)
            if in_reset:
                outputs = run.after_reset
            else:
                if i_valid and i_ready:
                    run.in_cycles.append(cycle)
                if o_valid and o_ready:
                    outputs.append(payload)
                    run.out_cycles.append(cycle)
            cycle += 1
            if drain is None and done and len(outputs) == want and (
                    not reset_at or outputs is run.after_reset):
                drain = cycle + dut.latency + 2 * dut.ii   # an extra output would show here
            if cycle == drain:
                return
            assert cycle < timeout, f"stream stalled: {len(outputs)} outputs in {cycle} cycles"

    sim = Simulator(ResetInserter(reset)(dut))
    sim.add_clock(1e-8)
    sim.add_testbench(producer, background=True)
    sim.add_testbench(consumer, background=True)
    sim.add_testbench(monitor)
    sim.run()
    return run
