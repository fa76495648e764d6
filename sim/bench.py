"""Bench parts shared by the core and edge benches: driver, monitor, reset, payload codec, checker.

* :class:`KlineDriver` drives ``i`` (one kline per handshake, ``valid`` dropped for random
  gaps) and records the cycle of each input handshake.
* :class:`SignalMonitor` drives ``o__ready`` (random stalls) and records the cycle and payload
  of each output handshake.
* :func:`pack_kline` and :func:`decode` are the payload codec (:mod:`hw.gateware.layouts`); the
  amaranth.sim tests use them too. Importing this module needs cocotb installed, not running.
* :func:`check` compares, in order, what the monitor saw with :func:`sw.spec.golden.run` (the
  only source of expected values) and matches each output with its input for the
  per-kline latency.

Reset (:meth:`Bench.reset`) is synchronous: ``rst`` is high for :data:`RESET_CYCLES` rising
edges. A handshake on a rising edge where ``rst`` is high does not count, on either side.
Everything accepted before a reset whose output had not been handshaken by then is in
flight and discarded: the monitor starts a new *epoch* at each reset; the outputs of the
epoch before must be an in-order prefix of :func:`sw.spec.golden.run` on the klines sent in it,
and the epoch after must hold exactly one output per kline sent after the reset, matching
:func:`sw.spec.golden.run` on those klines alone (the hardware restarts its warm-up).

Handshakes are sampled at the rising edge (register values before the edge), with
whole-payload integer reads and writes. The driver sleeps while ``i__ready`` is low and the
monitor while ``o__valid`` is low, so a folded core costs Python nothing while it computes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, RisingEdge

from hw.gateware.layouts import signal_layout
from sim.runner import CLOCK_NS
from sw.spec import golden
from sw.spec.klines import FIELDS, WORD_BITS, Klines

RESET_CYCLES = 2
#: Mismatches reported in full (all are counted).
REPORTED_MISMATCHES = 5
log = logging.getLogger("cocotb.sim.bench")


class StalledStream(AssertionError):
    """The core stopped producing the outputs it owes."""


def cycle() -> int:
    return round(get_sim_time("ns") / CLOCK_NS)


def pack_kline(row) -> int:
    """(open, high, low, close, volume) -> ``i__payload``, first field in the LSBs."""
    return sum(value << (WORD_BITS * k) for k, value in enumerate(row))


def geometric(rng: np.random.Generator, probability: float) -> int:
    """Idle cycles before the next beat when each cycle is idle with ``probability``."""
    return int(rng.geometric(1 - probability)) - 1 if probability > 0 else 0


class KlineDriver:
    """Producer on ``i``: ``valid`` high with a kline until ``ready``, then a random gap."""

    def __init__(self, dut, rng: np.random.Generator, progress_every: int = 0):
        self._dut = dut
        self._rng = rng
        self._progress_every = progress_every
        self.sent = 0

    async def send(self, rows, gap_probability: float = 0.0, total: int = 0) -> list[int]:
        """Stream ``rows``; return the cycle of each input handshake."""
        dut, edge = self._dut, RisingEdge(self._dut.clk)
        ready_rises = RisingEdge(dut.i__ready)
        cycles = []
        for row in rows:
            gap = geometric(self._rng, gap_probability)
            if gap:
                dut.i__valid.value = 0
                await ClockCycles(dut.clk, gap)
            dut.i__payload.value = pack_kline(row)
            dut.i__valid.value = 1
            while True:
                await edge
                if not dut.rst.value and dut.i__ready.value:
                    break
                if not dut.i__ready.value:
                    await ready_rises   # a folded core is busy for many cycles
            cycles.append(cycle())
            self.sent += 1
            if self._progress_every and self.sent % self._progress_every == 0:
                log.info("streamed %d%s klines (cycle %d)", self.sent,
                         f"/{total}" if total else "", cycles[-1])
        dut.i__valid.value = 0
        return cycles


class SignalMonitor:
    """Consumer on ``o``: ``ready`` low with ``stall_probability`` each cycle; records
    ``(cycle, payload)`` of every output handshake into the current epoch."""

    def __init__(self, dut, rng: np.random.Generator):
        self._dut = dut
        self._rng = rng
        self.stall_probability = 0.0
        self.epochs: list[list[tuple[int, int]]] = [[]]

    def new_epoch(self) -> None:
        self.epochs.append([])

    async def run(self) -> None:
        dut, edge, rng = self._dut, RisingEdge(self._dut.clk), self._rng
        ready = 1
        dut.o__ready.value = ready
        valid_rises = RisingEdge(dut.o__valid)
        while True:
            await edge
            valid = dut.o__valid.value
            if ready and valid and not dut.rst.value:
                self.epochs[-1].append((cycle(), dut.o__payload.value.to_unsigned()))
            elif not valid:
                await valid_rises   # nothing to take until the core has an output
            now = int(not self.stall_probability or rng.random() >= self.stall_probability)
            if now != ready:
                ready = now
                dut.o__ready.value = ready

    async def wait_for(self, count: int, budget_cycles: int) -> None:
        """Until the current epoch holds ``count`` outputs; :class:`StalledStream` after
        ``budget_cycles`` without them."""
        step, waited = 32, 0
        while len(self.epochs[-1]) < count:
            if waited > budget_cycles:
                raise StalledStream(f"stalled stream: {len(self.epochs[-1])} of {count} outputs "
                                    f"after {waited} cycles")
            await ClockCycles(self._dut.clk, step)
            waited += step


class Bench:
    """Clock, driver and monitor on a ``signal_core`` DUT."""

    def __init__(self, dut, seed: int, progress_every: int = 0):
        self.dut = dut
        rng = np.random.default_rng(seed)
        self.driver = KlineDriver(dut, rng, progress_every)
        self.monitor = SignalMonitor(dut, rng)

    async def start(self) -> None:
        Clock(self.dut.clk, CLOCK_NS, unit="ns").start()
        self.dut.i__valid.value = 0
        self.dut.rst.value = 1
        cocotb.start_soon(self.monitor.run())
        await self.reset()

    async def reset(self) -> None:
        """Synchronous reset; outputs still in flight are discarded (a new epoch starts)."""
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, RESET_CYCLES)
        self.monitor.new_epoch()
        self.dut.rst.value = 0


@dataclass
class Segment:
    """Klines sent between two resets, and what came back for them."""
    name: str
    klines: Klines
    in_cycles: list
    outputs: list           # (cycle, payload) in order
    first_index: int = 0    # of klines[0] in the whole stream, for messages
    cut_by_reset: bool = False


@dataclass
class Checked:
    outputs: int = 0
    mismatches: int = 0
    discarded: int = 0
    latencies: list = field(default_factory=list)
    first_mismatches: list = field(default_factory=list)

    def add(self, other: "Checked") -> None:
        self.outputs += other.outputs
        self.mismatches += other.mismatches
        self.discarded += other.discarded
        self.latencies += other.latencies
        room = REPORTED_MISMATCHES - len(self.first_mismatches)
        self.first_mismatches += other.first_mismatches[:max(room, 0)]


def decode(payloads, classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``o__payload`` integers -> (signal, raw ``[n, classes]`` signed, warm), read through
    :func:`hw.gateware.layouts.signal_layout`."""
    layout = signal_layout(classes)
    views = [layout.from_bits(int(value)) for value in payloads]
    signal = np.array([view.signal for view in views], dtype=np.int64)
    raw = np.array([list(view.raw) for view in views], dtype=np.int64).reshape(len(views), classes)
    warm = np.array([view.warm for view in views], dtype=bool)
    return signal, raw, warm


def check(model, segment: Segment) -> Checked:
    """Compare a segment's outputs with :func:`sw.spec.golden.run` on its klines, in order;
    latency per kline (for the outputs that have an input cycle)."""
    expected = golden.run(model, segment.klines)
    got = [payload for _, payload in segment.outputs]
    n, sent = len(got), len(segment.klines)
    if n > sent or (n < sent and not segment.cut_by_reset):
        raise StalledStream(f"{segment.name}: {n} outputs for {sent} klines sent")
    signal, raw, warm = decode(got, len(model.classes))
    bad = np.flatnonzero((signal != expected.signal[:n]) | (warm != expected.warm[:n]) |
                         np.any(raw != expected.raw[:n], axis=1))
    result = Checked(outputs=n, mismatches=len(bad), discarded=sent - n,
                     latencies=[out[0] - t for out, t in zip(segment.outputs, segment.in_cycles)])
    rows = segment.klines.matrix()
    for i in bad[:REPORTED_MISMATCHES]:
        result.first_mismatches.append({
            "segment": segment.name, "kline": int(segment.first_index + i),
            **{name: int(v) for name, v in zip(FIELDS, rows[i])},
            "expected": {"signal": int(expected.signal[i]), "raw": expected.raw[i].tolist(),
                         "warm": bool(expected.warm[i])},
            "got": {"signal": int(signal[i]), "raw": raw[i].tolist(), "warm": bool(warm[i])}})
    return result
