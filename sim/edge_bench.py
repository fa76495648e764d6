"""cocotb bench of ``signal_core`` on extreme klines, each case from a fresh reset.

Cases (:func:`edge_cases`): limit moves up and down (every feature saturates), an all-zero
volume window and single zero volumes, a kline after a week-long gap (the hardware has no
notion of time, nor has the golden model), the largest (2**32 - 1) and smallest (1)
prices and volumes, warm-up (streams shorter than and just past ``warmup_klines``), and
random klines with log-uniform prices and volumes over the whole 32-bit range. Every
output is compared with :func:`sw.spec.golden.run` on the case alone, with random backpressure,
after idling twice the declared latency and II (plus 8 cycles), so an extra output fails
the case too.

Settings: ``model``, ``seed``, ``gap_probability``, ``stall_probability``, ``declared``,
``results``.
"""

from __future__ import annotations

import json
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles

from sim.bench import Bench, Checked, Segment, check
from sim.runner import CLOCK_NS, bench_settings, timeout_ns
from sw.spec.artifact import load as load_model
from sw.spec.klines import INSTRUMENTS, WORD_BITS, Klines, from_rows, interval_ms

TOP = 2 ** WORD_BITS - 1
INSTRUMENT = INSTRUMENTS[("linear", "BTCUSDT")]
INTERVAL = "5"
BASE = 80_000_0     # 80,000.0 USDT in ticks


def klines(name: str, ohlcv, gap_after: int | None = None) -> Klines:
    """Validated klines from (open, high, low, close, volume) in ticks and lots, 5 minutes
    apart, with a one-week gap after index ``gap_after``."""
    step, start, rows = interval_ms(INTERVAL), 1_750_000_200_000, []
    for n, (o, h, l, c, v) in enumerate(ohlcv):
        start += step + (7 * 24 * 3_600_000 if gap_after is not None and n == gap_after + 1
                         else 0)
        rows.append((start, *(str(p * INSTRUMENT.tick) for p in (o, h, l, c)),
                     str(v * INSTRUMENT.lot)))
    return from_rows(rows, INSTRUMENT, INTERVAL, source=f"edge:{name}", synthetic=True)


def steady(count: int, price: int = BASE, volume: int = 200_000):
    """Flat klines with wicks of 500 ticks each side."""
    return [(price, price + 500, price - 500, price + 100, volume)] * count


def random_extremes(rng: np.random.Generator, count: int):
    prices = np.exp(rng.uniform(0, np.log(TOP), size=(count, 4))).astype(np.int64) + 1
    prices = np.minimum(prices, TOP)
    low, high = prices.min(axis=1), prices.max(axis=1)
    open_ = np.clip(prices[:, 1], low, high)
    close = np.clip(prices[:, 2], low, high)
    volume = np.exp(rng.uniform(0, np.log(TOP + 1), size=count)).astype(np.int64) - 1
    volume[rng.random(count) < 0.1] = 0
    volume[rng.random(count) < 0.05] = TOP
    return list(zip(open_.tolist(), high.tolist(), low.tolist(), close.tolist(),
                    np.minimum(volume, TOP).tolist()))


def edge_cases(seed: int, warmup: int) -> dict[str, Klines]:
    rng = np.random.default_rng(seed)
    limit_up = [(BASE, 4 * BASE, BASE, 4 * BASE, 10 ** 6), (4 * BASE, TOP, 4 * BASE, TOP, 1),
                (BASE, TOP, BASE, BASE, 10 ** 6)]
    limit_down = [(TOP, TOP, 1, 1, TOP), (BASE, BASE, 1, 1, 0), (1, TOP, 1, TOP, TOP),
                  (BASE, BASE, 1, BASE, 10 ** 6)]
    zeros = steady(warmup + 4, volume=0)
    single_zeros = [row if n % 7 else row[:4] + (0,)
                    for n, row in enumerate(steady(3 * warmup))]
    ones = [(1, 1, 1, 1, 1)] * (warmup + 2) + [(1, TOP, 1, TOP, TOP), (TOP, TOP, 1, 1, 1)]
    tops = [(TOP, TOP, TOP, TOP, TOP)] * (warmup + 2) + [(TOP, TOP, 1, 1, 0)]
    return {
        "limit moves": klines("limit", steady(warmup + 2) + limit_up + steady(3, TOP - 500)
                              + limit_down + steady(warmup + 2)),
        "zero volume window": klines("zeros", zeros + steady(warmup + 2)),
        "single zero volumes": klines("single zeros", single_zeros),
        "long gap": klines("gap", steady(warmup + 2) + steady(warmup + 2, 2 * BASE), warmup + 1),
        "smallest values": klines("ones", ones),
        "largest values": klines("tops", tops),
        "warm-up, short": klines("short", steady(min(3, warmup))),
        "warm-up, just past": klines("warm-up", steady(warmup + 1)),
        "random extremes": klines("random", random_extremes(rng, 400)),
    }


def deadline_ns(settings: dict) -> int:
    """Every case's kline budget (the bench's own waits) and its idle tail and reset."""
    declared = settings["declared"]
    warmup = load_model(settings["model"]).features.warmup_klines
    cases = edge_cases(settings.get("seed", 0), warmup).values()
    per_kline = 64 * (declared["latency"] + declared["ii"] + 8)
    per_case = 2 * declared["latency"] + 2 * declared["ii"] + 8 + 64
    return sum(len(case) * per_kline + per_case for case in cases) * CLOCK_NS


@cocotb.test(timeout_time=timeout_ns(deadline_ns), timeout_unit="ns")
async def extreme_klines(dut):
    settings = bench_settings()
    model = load_model(settings["model"])
    gap, stall = settings.get("gap_probability", 0.3), settings.get("stall_probability", 0.3)
    declared = settings["declared"]
    idle = 2 * declared["latency"] + 2 * declared["ii"] + 8
    bench = Bench(dut, settings.get("seed", 0))
    await bench.start()
    bench.monitor.stall_probability = stall
    total, cases = Checked(), {}
    for name, case in edge_cases(settings.get("seed", 0), model.features.warmup_klines).items():
        in_cycles = await bench.driver.send(case.rows(), gap)
        await bench.monitor.wait_for(len(case), 64 * len(case) * (declared["latency"]
                                                                    + declared["ii"] + 8))
        await ClockCycles(dut.clk, idle)   # a late extra output would land here
        result = check(model, Segment(name, case, in_cycles, bench.monitor.epochs[-1]))
        cases[name] = {"klines": len(case), "mismatches": result.mismatches}
        total.add(result)
        await bench.reset()
    Path(settings["results"]).write_text(json.dumps({
        "klines": sum(c["klines"] for c in cases.values()), "outputs": total.outputs,
        "mismatches": total.mismatches, "cases": cases,
        "first_mismatches": total.first_mismatches,
        "measured_latency_cycles": {"min": min(total.latencies),
                                    "max": max(total.latencies)}}))
    assert total.mismatches == 0, (f"{total.mismatches} of {total.outputs} outputs differ from "
                                   f"sw.spec.golden; first: {total.first_mismatches[0]}")
    assert min(total.latencies) >= declared["latency"], "an output came before its latency"
