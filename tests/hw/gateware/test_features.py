"""ParallelFeatureExtractor and FoldedFeatureExtractor against the integer spec
sw.spec.features, in amaranth.sim.

The stream bench of :mod:`stream_sim` drives both streams (optionally with random gaps in
valid and ready) and records every handshake, so the checks see exactly what crossed each
interface and when. The parallel extractor's codes of every recorded kline are checked
inside the whole core (``tests/hw/gateware/test_core.py``), in the same simulation as its
signals.
"""

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring

from hw.gateware.features import FoldedFeatureExtractor, ParallelFeatureExtractor
from sim.bench import pack_kline
from sw.spec.features import FEATURES, FeatureSpec
from sw.spec.klines import FIELDS, INSTRUMENTS, WORD_BITS, Klines
from tests import stream_sim as stream

SPEC = FeatureSpec()
MAX = 2 ** WORD_BITS - 1


def klines_of(rows):
    """Klines from (open, high, low, close, volume) tuples; the hardware needs no times."""
    matrix = np.array(rows, dtype=np.int64).reshape(-1, 5)
    columns = {name: matrix[:, n] for n, name in enumerate(FIELDS)}
    return Klines(INSTRUMENTS[("linear", "BTCUSDT")], "5",
                  np.arange(len(rows), dtype=np.int64) * 300_000, **columns, synthetic=True)


def simulate(spec, rows, *, folded, in_gaps=0.0, out_gaps=0.0, reset_at=None, seed=0):
    """Run ``rows`` through the extractor (:func:`stream_sim.simulate`); returns
    ``(outputs, in_cycles, out_cycles, dut)``: decoded outputs in order, and the cycle of
    each input/output handshake. With ``reset_at`` (a one-cycle synchronous reset after
    that many input handshakes; klines in flight are lost) outputs are (before, after)."""
    dut = (FoldedFeatureExtractor if folded else ParallelFeatureExtractor)(spec)
    run = stream.simulate(dut, [pack_kline(row) for row in rows], in_gaps=in_gaps,
                          out_gaps=out_gaps, reset_at=reset_at, seed=seed)
    count = len(spec.names)
    outputs, after = ([stream.unpack_vector(value, count) for value in values]
                      for values in (run.outputs, run.after_reset))
    return (outputs if reset_at is None else [outputs, after],
            run.in_cycles, run.out_cycles, dut)


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


@pytest.mark.parametrize("folded", [False, pytest.param(True, marks=pytest.mark.slow)],
                         ids=["parallel", "folded"])
def test_real_klines_bit_exact(klines_5m, folded):
    count = 500 if not folded else 400
    rows = real_rows(klines_5m, count)
    outputs, *_ = simulate(SPEC, rows, folded=folded)
    assert outputs == stream.feature_vectors(klines_of(rows), SPEC)


@pytest.mark.parametrize("folded", [False, True], ids=["parallel", "folded"])
def test_extremes(folded):
    rows = extremes()
    spec = FeatureSpec(FEATURES, (20, 0, 7, 8, 3, 20, 20), volume_window=4)
    for each in (spec, SPEC):
        expected = stream.feature_vectors(klines_of(rows), each)
        codes = [c for row, _ in expected for c in row]
        assert 127 in codes and -127 in codes  # the extremes do reach saturation
        outputs, *_ = simulate(each, rows, folded=folded)
        assert outputs == expected


@pytest.mark.parametrize("folded", [False, True], ids=["parallel", "folded"])
def test_backpressure(klines_5m, folded):
    rows = real_rows(klines_5m, 250 if not folded else 60) + extremes()
    outputs, *_ = simulate(SPEC, rows, folded=folded, in_gaps=0.4, out_gaps=0.5, seed=7)
    assert outputs == stream.feature_vectors(klines_of(rows), SPEC)


@pytest.mark.parametrize("folded", [False, True], ids=["parallel", "folded"])
def test_reset_mid_stream(klines_5m, folded):
    rows = real_rows(klines_5m, 200 if not folded else 45)
    split = len(rows) * 2 // 3
    (before, after), *_ = simulate(SPEC, rows, folded=folded, in_gaps=0.2, out_gaps=0.2,
                                   reset_at=split, seed=3)
    assert before, "no output before the reset"
    assert before == stream.feature_vectors(klines_of(rows[:split]), SPEC)[:len(before)]
    assert after == stream.feature_vectors(klines_of(rows[split:]), SPEC)


@pytest.mark.parametrize("folded", [False, True], ids=["parallel", "folded"])
@pytest.mark.parametrize("spec", [SPEC, FeatureSpec(("volume", "body"), (9, 2), 256),
                                  FeatureSpec(("range",), (20,), 2)],
                         ids=["default", "volume256", "range"])
def test_latency_and_ii(klines_5m, folded, spec):
    rows = real_rows(klines_5m, 300 if spec.volume_window == 256 else 40)
    outputs, in_cycles, out_cycles, dut = simulate(spec, rows, folded=folded)
    assert outputs == stream.feature_vectors(klines_of(rows), spec)
    assert {o - i for i, o in zip(in_cycles, out_cycles)} == {dut.latency}
    assert set(np.diff(in_cycles)) == {dut.ii}


class CopyAsCodes(wiring.Component):
    """A parallel extractor whose ``o.payload.codes`` is one of its :attr:`code_copies`."""

    def __init__(self, spec, copy):
        self.extractor = ParallelFeatureExtractor(spec)
        self.latency, self.ii, self._copy = self.extractor.latency, self.extractor.ii, copy
        super().__init__(dict(self.extractor.signature.members))

    def elaborate(self, platform):
        m = Module()
        m.submodules.extractor = inner = self.extractor
        wiring.connect(m, wiring.flipped(self.i), inner.i)
        m.d.comb += [self.o.valid.eq(inner.o.valid), inner.o.ready.eq(self.o.ready),
                     self.o.payload.warm.eq(inner.o.payload.warm),
                     self.o.payload.codes.eq(inner.code_copies[self._copy])]
        return m


@pytest.mark.slow
def test_every_code_copy_is_the_codes(klines_5m):
    """The copies the first layer shares out among its outputs are the codes, each from its
    own registers, stalls included."""
    rows = real_rows(klines_5m, 60) + extremes()
    expected = stream.feature_vectors(klines_of(rows), SPEC)
    copies = len(ParallelFeatureExtractor(SPEC).code_copies)
    assert copies >= 1
    for copy in range(copies):
        run = stream.simulate(CopyAsCodes(SPEC, copy), [pack_kline(row) for row in rows],
                              in_gaps=0.3, out_gaps=0.3, seed=copy)
        assert [stream.unpack_vector(v, len(SPEC.names)) for v in run.outputs] == expected
