"""cocotb bench of ``signal_core``: a whole kline file, backpressure, a reset mid-stream.

Settings (see :func:`sim.runner.run_bench`): ``model``, ``data``, ``limit``, ``seed``,
``gap_probability`` (input idle per cycle), ``stall_probability`` (``o__ready`` low per
cycle), ``full_rate_klines``, ``reset_at``, ``declared`` {``latency``, ``ii``},
``progress_every``, ``results``.

Phases, one stream:

1. full rate: the first ``full_rate_klines`` klines with ``valid`` never dropped and
   ``o__ready`` held high, then drained. Every latency here is the no-stall latency, the
   input handshake spacing is the initiation interval; both must equal the declared ones.
2. backpressure: the klines up to ``reset_at``, random gaps and stalls.
3. reset right after the last input handshake of phase 2, with outputs in flight (those are
   discarded, see :mod:`sim.bench`); then the rest of the file with backpressure, checked
   against :func:`sw.spec.golden.run` on the klines after the reset alone.

Afterwards the bench idles for twice the declared latency and II (plus 8 cycles) and
checks that nothing more comes out. Latency is counted in cycles from input handshake to
output handshake. The results also hold what the core emitted, per segment (``emitted``:
signal and warm flag of each output), so that a backtest can trade on them. The stream needs :data:`MIN_KLINES` klines at least.
"""

from __future__ import annotations

import json
from pathlib import Path

import cocotb
from cocotb.triggers import ClockCycles

from sim.bench import Bench, Checked, Segment, check, decode
from sim.runner import CLOCK_NS, bench_settings, timeout_ns
from sw.data.load import load as load_klines
from sw.spec.artifact import load as load_model

#: Klines the full-rate phase needs: two input handshakes give one spacing (the II).
MIN_FULL_RATE = 2
#: Fewest klines the bench takes with the default plan (reset halfway, at most half the
#: klines before it at full rate); ``python -m sim.run`` rejects a smaller ``--limit``.
MIN_KLINES = 4 * MIN_FULL_RATE


def plan(settings: dict, n: int) -> tuple[int, int]:
    """(klines at full rate, kline index of the reset): half the klines before the reset at
    least go with backpressure, so the reset cuts a busy stream; no reset without klines
    after it. A ValueError when fewer than :data:`MIN_FULL_RATE` klines go at full rate
    (the no-stall latency and the II would go unmeasured)."""
    reset_at = min(settings.get("reset_at", n // 2), n)
    full_rate = min(settings.get("full_rate_klines", 256), reset_at // 2)
    if full_rate < MIN_FULL_RATE:
        raise ValueError(f"{n} klines with the reset at kline {reset_at} leave {full_rate} "
                         f"at full rate; the bench needs {MIN_FULL_RATE} (at least "
                         f"{MIN_KLINES} klines with the reset halfway)")
    return full_rate, reset_at


def emitted_signals(segment: Segment, classes: int) -> dict:
    """What the core emitted for a segment: its signal and warm flag per output, in order
    (output ``i`` is kline ``first_kline + i``), for whoever trades on them."""
    signal, _, warm = decode([payload for _, payload in segment.outputs], classes)
    return {"segment": segment.name, "first_kline": segment.first_index,
            "signal": signal.tolist(), "warm": warm.tolist()}


def kline_budget(declared: dict) -> int:
    """Cycles one kline may take, backpressure included, before the bench gives up."""
    return 64 * declared["latency"] + 64 * declared["ii"] + 1024


def deadline_ns(settings: dict) -> int:
    """The whole stream's deadline: every kline's budget, and two more for the reset and
    the idle tail."""
    klines = len(load_klines(settings["data"])[:settings.get("limit")])
    return (klines + 2) * kline_budget(settings["declared"]) * CLOCK_NS


@cocotb.test(timeout_time=timeout_ns(deadline_ns), timeout_unit="ns")
async def stream_kline_file(dut):
    settings = bench_settings()
    model = load_model(settings["model"])
    klines = load_klines(settings["data"])[:settings.get("limit")]
    declared = settings["declared"]
    gap, stall = settings.get("gap_probability", 0.2), settings.get("stall_probability", 0.2)
    n = len(klines)
    full_rate, reset_at = plan(settings, n)
    rows = klines.rows()
    bench = Bench(dut, settings.get("seed", 0), settings.get("progress_every", 0))
    driver, monitor = bench.driver, bench.monitor
    budget = kline_budget(declared)
    await bench.start()

    fast = await driver.send(rows[:full_rate], 0.0, total=n)
    await monitor.wait_for(full_rate, budget)
    nostall = [out[0] - t for out, t in zip(monitor.epochs[-1], fast)]
    spacing = [b - a for a, b in zip(fast, fast[1:])]

    monitor.stall_probability = stall
    slow = await driver.send(rows[full_rate:reset_at], gap, total=n)
    segments = [Segment("before reset", klines[:reset_at], fast + slow, monitor.epochs[-1],
                        cut_by_reset=reset_at < n)]
    if reset_at < n:
        await bench.reset()
        after = await driver.send(rows[reset_at:], gap, total=n)
        segments.append(Segment("after reset", klines[reset_at:], after, monitor.epochs[-1],
                                first_index=reset_at))
    await monitor.wait_for(len(segments[-1].klines), budget * max(n - reset_at, 1))
    cycles = monitor.epochs[-1][-1][0] - fast[0] + 1   # first input to last output
    await ClockCycles(dut.clk, 2 * declared["latency"] + 2 * declared["ii"] + 8)

    total = Checked()
    for segment in segments:
        total.add(check(model, segment))
    emitted = [emitted_signals(segment, len(model.classes)) for segment in segments]
    results = {
        "klines": n,
        "outputs": total.outputs,
        "mismatches": total.mismatches,
        "first_mismatches": total.first_mismatches,
        "reset_at_kline": reset_at if reset_at < n else None,
        "discarded_at_reset": total.discarded,
        "latency_cycles": total.latencies,
        "nostall_latency_cycles": nostall,
        "full_rate_klines": full_rate,
        "ii_cycles": min(spacing),
        "ii_max_cycles": max(spacing),
        "cycles": cycles,
        "throughput_klines_per_cycle": total.outputs / cycles,
        "declared": declared,
        "seed": settings.get("seed", 0),
        "gap_probability": gap,
        "stall_probability": stall,
        "emitted": emitted,
    }
    Path(settings["results"]).write_text(json.dumps(results))

    assert total.mismatches == 0, (f"{total.mismatches} of {total.outputs} outputs differ from "
                                   f"sw.spec.golden; first: {total.first_mismatches[0]}")
    assert set(nostall) == {declared["latency"]}, (
        f"no-stall latency {sorted(set(nostall))} cycles, declared {declared['latency']}")
    assert set(spacing) == {declared["ii"]}, (
        f"initiation interval at full rate {sorted(set(spacing))} cycles, "
        f"declared {declared['ii']}")
