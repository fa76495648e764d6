"""hw.gateware.core.SignalCore: the whole core bit-exact against sw.spec.golden.run on every recorded kline
(parallel, with backpressure on a slice; its feature codes too), the folded core on a subset, declared timing
measured, and a reset in mid-stream."""

import time

import numpy as np
import pytest

from hw.gateware.core import CONFIGS, SignalCore, resolve_config
from sim.bench import Segment, check, pack_kline
from tests.stream_sim import feature_vectors, simulate, unpack_vector

#: Klines of the full run that see random gaps in valid and ready (the rest run at full rate).
BACKPRESSURE_KLINES = 1500


def payloads(klines):
    return [pack_kline(row) for row in klines.rows()]


def check_against_golden(model, klines, values, *, cut_by_reset=False):
    """``values`` (``o`` payloads, in order) against sw.spec.golden.run on ``klines``, with the
    cocotb benches' checker (:func:`sim.bench.check`): one output per kline, or with
    ``cut_by_reset`` an in-order prefix (the klines in flight at a reset are lost)."""
    if not cut_by_reset:
        assert len(values) == len(klines), "klines lost or duplicated"
    result = check(model, Segment("amaranth.sim", klines, [], [(0, v) for v in values],
                                  cut_by_reset=cut_by_reset))
    assert result.mismatches == 0, (f"{result.mismatches} klines differ, first: "
                                    f"{result.first_mismatches[0]}")


@pytest.mark.slow
def test_core_parallel_every_kline(default_model, klines_5m):
    """The signals, and on the way the feature codes (the extractor's output, which the
    argmax and the requantization could hide), of every recorded kline."""
    core = SignalCore(default_model, "parallel")
    start = time.perf_counter()
    run = simulate(core, payloads(klines_5m), in_gaps=0.3, out_gaps=0.5,
                   gap_items=BACKPRESSURE_KLINES, timeout_per_item=core.latency + 8,
                   taps=[(core.features.o.valid, core.features.o.payload.as_value())])
    seconds = time.perf_counter() - start
    check_against_golden(default_model, klines_5m, run.outputs)
    spec = default_model.features
    codes = [unpack_vector(value, len(spec.names)) for value in run.tapped[0]]
    assert codes == feature_vectors(klines_5m, spec)
    print(f"{len(klines_5m)} klines through the parallel core in {seconds:.1f} s")


def test_core_folded_subset(default_model, klines_5m):
    klines = klines_5m[1000:1040]
    core = SignalCore(default_model, "folded")
    run = simulate(core, payloads(klines), in_gaps=0.5, out_gaps=0.7, seed=3)
    check_against_golden(default_model, klines, run.outputs)


@pytest.mark.parametrize("config", ["parallel", "folded"])
def test_core_latency_and_ii(default_model, klines_5m, config):
    klines = klines_5m[:20]
    core = SignalCore(default_model, config)
    isolated = simulate(core, payloads(klines[:4]), isolated=True)
    assert set(np.subtract(isolated.out_cycles, isolated.in_cycles)) == {core.latency}
    streamed = simulate(core, payloads(klines))
    assert set(np.diff(streamed.in_cycles)) == {core.ii}
    assert set(np.diff(streamed.out_cycles)) == {core.ii}
    check_against_golden(default_model, klines, streamed.outputs)
    if config == "parallel":
        assert core.ii == 1 and core.latency <= 10


def test_core_reset_mid_stream(default_model, klines_5m):
    """Klines in flight at the reset are dropped; the ones after it are computed as if the
    stream started there (feature warm-up again)."""
    klines = klines_5m[5000:5120]
    core = SignalCore(default_model, "parallel")
    run = simulate(core, payloads(klines), reset_at=50, out_gaps=0.3)
    assert run.outputs, "no output before the reset"
    check_against_golden(default_model, klines[:50], run.outputs, cut_by_reset=True)
    check_against_golden(default_model, klines[50:], run.after_reset)


def test_core_configs(default_model):
    assert set(CONFIGS) == {"parallel", "folded"}
    assert resolve_config(default_model, "folded") == (True, (1, 1))
    assert resolve_config(default_model, (None, 3)) == (False, (None, 3))
    with pytest.raises(ValueError, match="choose one of parallel, folded"):
        resolve_config(default_model, "fast")
    with pytest.raises(ValueError, match="layer 0: lanes=5"):
        resolve_config(default_model, (5, 1))
    with pytest.raises(ValueError, match="2 layers"):
        resolve_config(default_model, (1,))


@pytest.mark.parametrize("config", [pytest.param("parallel", marks=pytest.mark.slow), "folded"])
def test_core_backpressure_fills_the_queue_then_holds_the_input(default_model, klines_5m,
                                                                config):
    """A consumer that is rarely ready: the stages never stall, the queue fills, and
    ``i.ready`` falls once ``credits`` klines are outstanding, never later; every result
    still arrives, in order, bit-exact."""
    klines = klines_5m[3000:3000 + (120 if config == "parallel" else 12)]
    core = SignalCore(default_model, config)
    # a result waits about twice the latency for the consumer
    run = simulate(core, payloads(klines), out_gaps=1 - 1 / (2 * core.latency), seed=5,
                   timeout_per_item=20 * core.latency)
    check_against_golden(default_model, klines, run.outputs)
    events = sorted([(cycle, 1) for cycle in run.in_cycles] +
                    [(cycle, -1) for cycle in run.out_cycles])
    outstanding = np.cumsum([step for _, step in events])
    assert outstanding.max() == core.credits
