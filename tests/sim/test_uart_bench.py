"""cocotb on Icarus: LinkedCore's generated Verilog driven and read at the UART bit level
(sim/uart_bench.py), real klines in, every reply checked against sw.spec.golden."""

import pytest
from amaranth.back import verilog

from hw.board.top import LinkedCore
from sim.runner import ROOT, run_bench
from sw.spec.artifact import save

BIT_CYCLES = 8  # clocks per UART bit: tighter than any real board, fast to simulate
pytestmark = pytest.mark.sim


@pytest.mark.parametrize("config, klines", [("parallel", 200), ("folded", 100)])
def test_linked_core_over_uart(config, klines, data_dir, default_model):
    """Real klines, a corrupted frame before the middle one; every reply is checked in the
    bench, and its measurements here."""
    build = ROOT / "build" / "sim" / f"uart_bench_{config}"
    build.mkdir(parents=True, exist_ok=True)
    top = LinkedCore(default_model, config=config, clk_freq=BIT_CYCLES, baud=1)
    source = build / "linked_core.v"
    source.write_text(verilog.convert(top, name="linked_core"))
    settings = {"model": str(save(default_model, build / "model.json")),
                "data": str(data_dir / "BTCUSDT_linear_5m.csv"), "count": klines,
                "corrupt_at": klines // 2, "bit_cycles": top.bit_cycles,
                "latency": top.latency}
    measured = run_bench([source], "linked_core", "sim.uart_bench", build, settings)
    assert measured == {"klines": klines, "replies_checked": klines + 2, "mismatches": 0,
                        "latency_min": top.latency, "latency_max": top.latency}
