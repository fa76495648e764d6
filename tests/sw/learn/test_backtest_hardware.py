"""The hardware's own signal: what the simulated core emits trades exactly as sw.spec.golden.

The backtest's exported row runs on :func:`sw.spec.golden.run`; here the generated Verilog
runs on Icarus (cocotb, random gaps and stalls, no reset so every kline gets its output)
and the signals it emitted are traded beside the golden ones.
"""

import numpy as np
import pytest

from sim.run import export_core
from sim.runner import run_bench
from sw.data.load import load
from sw.learn.backtest.pnl import Book, Market, metrics
from sw.learn.labels import MAKER_FEE, TAKER_FEE
from sw.spec import golden
from sw.spec.artifact import save

KLINES = 400


@pytest.mark.sim
def test_core_signals_give_the_golden_trades(default_model, data_dir, tmp_path):
    model_dir = save(default_model, tmp_path / "model").parent
    data = data_dir / "BTCUSDT_linear_5m.csv"
    verilog, core = export_core(model_dir, "parallel", tmp_path / "sim")
    results = run_bench([verilog], "signal_core", "sim.core_bench", tmp_path / "sim", {
        "model": str(model_dir), "data": str(data), "limit": KLINES, "reset_at": KLINES,
        "seed": 6, "declared": {"latency": core["latency_cycles"], "ii": core["ii"]}})
    (emitted,) = results["emitted"]
    assert emitted["first_kline"] == 0 and len(emitted["signal"]) == KLINES

    klines = load(data)[:KLINES]
    expected = golden.run(default_model, klines)
    traded = np.flatnonzero(np.array(emitted["warm"])[:-1])    # warm, with a next close
    assert np.array_equal(traded, np.flatnonzero(expected.warm[:-1]))
    market = Market.of(klines, traded)
    y = np.full(len(traded), -1)
    figures = []
    for signal in (np.array(emitted["signal"]), expected.signal):
        book = Book.of(signal[traded], market)
        figures.append((book.p, metrics(book, signal[traded], y, MAKER_FEE, TAKER_FEE)))
    (hw_positions, hw), (golden_positions, reference) = figures
    assert np.array_equal(hw_positions, golden_positions)
    assert reference["trades"][0] > 0, "a stretch without trades would show nothing"
    for key in ("gross_return", "net_return_maker", "net_return_taker", "trades", "turnover"):
        assert hw[key][0] == reference[key][0], key
