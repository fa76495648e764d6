"""hw.core.SignalCore: the whole core bit-exact against sw.golden.run on every recorded kline
(parallel, with backpressure on a slice), the folded core on a subset, declared timing
measured, and a reset in mid-stream."""

import time

import numpy as np
import pytest

from hw.core import CONFIGS, SignalCore, resolve_config
from stream_sim import simulate, unpack_vector
from sw import golden
from sw.klines import FIELDS, WORD_BITS

#: Klines of the full run that see random gaps in valid and ready (the rest run at full rate).
BACKPRESSURE_KLINES = 1500


def payloads(klines):
    matrix = klines.matrix().astype(object)
    return [sum(int(v) << (WORD_BITS * n) for n, v in enumerate(row)) for row in matrix]


def decode(values, classes):
    bits = (classes - 1).bit_length()
    signals = [value & ((1 << bits) - 1) for value in values]
    raw_warm = [unpack_vector(value, classes, bits) for value in values]
    return signals, [codes for codes, _ in raw_warm], [w for _, w in raw_warm]


def check_against_golden(model, klines, values):
    expected = golden.run(model, klines)
    signals, raw, warm = decode(values, len(model.classes))
    assert len(values) == len(klines), "klines lost or duplicated"
    mismatch = [n for n in range(len(klines))
                if (signals[n], raw[n], warm[n]) != (int(expected.signal[n]),
                                                      tuple(map(int, expected.raw[n])),
                                                      bool(expected.warm[n]))]
    assert not mismatch, f"{len(mismatch)} klines differ, first at {mismatch[0]}"


def test_core_parallel_every_kline(default_model, klines_5m):
    core = SignalCore(default_model, "parallel")
    start = time.perf_counter()
    run = simulate(core, payloads(klines_5m), in_gaps=0.3, out_gaps=0.5,
                   gap_items=BACKPRESSURE_KLINES, timeout_per_item=core.latency + 8)
    seconds = time.perf_counter() - start
    check_against_golden(default_model, klines_5m, run.outputs)
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
        assert core.ii == 1 and core.latency <= 24


def test_core_reset_mid_stream(default_model, klines_5m):
    """Klines in flight at the reset are dropped; the ones after it are computed as if the
    stream started there (feature warm-up again)."""
    klines = klines_5m[5000:5120]
    core = SignalCore(default_model, "parallel")
    run = simulate(core, payloads(klines), reset_at=50, out_gaps=0.3)
    check_against_golden(default_model, klines[50:], run.after_reset)


def test_core_configs(default_model):
    assert set(CONFIGS) == {"parallel", "folded"}
    assert resolve_config(default_model, "folded") == (True, (1, 1))
    assert resolve_config(default_model, (None, 3)) == (False, (None, 3))
    with pytest.raises(ValueError, match="choose one of parallel, folded"):
        resolve_config(default_model, "fast")
    with pytest.raises(ValueError, match="layer 0: multipliers=5"):
        resolve_config(default_model, (5, 1))
    with pytest.raises(ValueError, match="2 layers"):
        resolve_config(default_model, (1,))
