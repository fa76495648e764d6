"""The core bench on the netlists the boards run: the signal core synthesized for the ULX3S
and the iCEBreaker with their builds' Yosys scripts, simulated gate by gate on recorded klines
against sw.spec.golden, its measured latency and II the declared ones.

A few hundred klines each keep CI short; ``python -m sim.run --netlist BOARD`` streams the
whole file.
"""

import json

import pytest

from hw.flow.build import KEEP_REGISTERS
from sim.run import main as sim_run
from sim.run import simulate
from tests.sim.test_core_bench import assert_core_matches, model_dir  # noqa: F401 (fixture)

ULX3S_KLINES = 300
#: The folded core takes an II of a few hundred cycles per kline.
ICEBREAKER_KLINES = 100


@pytest.mark.slow
@pytest.mark.sim
def test_ulx3s_netlist_on_recorded_klines(model_dir, data_dir, tmp_path, capsys):  # noqa: F811
    code = sim_run(["--data", str(data_dir / "BTCUSDT_linear_5m.csv"), "--model",
                    str(model_dir), "--netlist", "ulx3s", "--limit", str(ULX3S_KLINES),
                    "--seed", "6", "--reports", str(tmp_path / "reports"),
                    "--build", str(tmp_path / "sim")])
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "reports" / "latency.json").read_text())
    assert (report["level"], report["board"], report["config"]) == ("netlist", "ulx3s",
                                                                   "parallel")
    assert report["klines"] == ULX3S_KLINES and report["mismatches"] == 0
    assert report["outputs"] + report["discarded_at_reset"] == ULX3S_KLINES
    measured = report["measured_latency_cycles"]
    assert measured["min"] == measured["max"] == report["latency_cycles"]
    assert report["measured_ii"] == report["ii"] == 1
    assert report["netlist"]["family"] == "ecp5"


@pytest.mark.slow
@pytest.mark.sim
def test_icebreaker_netlist_on_recorded_klines(model_dir, data_dir, tmp_path):  # noqa: F811
    results = simulate(model_dir, data_dir / "BTCUSDT_linear_5m.csv", "folded", tmp_path,
                       seed=7, limit=ICEBREAKER_KLINES, netlist="icebreaker")
    assert_core_matches(results, ICEBREAKER_KLINES)
    netlist = results["netlist"]
    assert (netlist["board"], netlist["family"]) == ("icebreaker", "ice40")
    # the build's script and options: register keeping, and the UP5K's DSPs (synth -dsp)
    script = (tmp_path / "netlist" / "signal_core.ys").read_text()
    assert KEEP_REGISTERS in script and "synth_ice40 -dsp" in script
    assert netlist["cells"]["SB_MAC16"] > 0


def test_run_rejects_an_unknown_board(capsys):
    with pytest.raises(SystemExit) as exit_:
        sim_run(["--data", "unread.csv", "--netlist", "nexys"])
    assert exit_.value.code == 2
    assert "--netlist: invalid choice: 'nexys'" in capsys.readouterr().err
