"""sim.report without a simulation: the clock it reads, the declared timing, the keys."""

import json

import numpy as np
import pytest

from sim import report
from sw.spec import schema
from sw.spec.artifact import random_model


def test_board_clock_is_the_pll_output_with_fmax_beside_it(tmp_path):
    assert report.board_clock(tmp_path, "parallel")["clock_source"].startswith("nominal")
    (tmp_path / "ulx3s").mkdir()
    (tmp_path / "ulx3s" / "report.json").write_text(json.dumps(
        {"schema_version": schema.BUILD, "board": "ulx3s", "config": "parallel", "fmax_mhz": 105.98,
         "clock": {"achieved_mhz": 100.0}}))
    (tmp_path / "icebreaker").mkdir()
    (tmp_path / "icebreaker" / "report.json").write_text(json.dumps(
        {"schema_version": schema.BUILD, "board": "icebreaker", "config": "folded", "fmax_mhz": 23.4,
         "clock": {"achieved_mhz": 18.0}}))
    clock = report.board_clock(tmp_path, "parallel")
    assert (clock["clock_mhz"], clock["fmax_mhz"]) == (100.0, 105.98)
    assert "ulx3s" in clock["clock_source"]
    assert report.board_clock(tmp_path, "folded")["clock_mhz"] == 18.0
    (tmp_path / "old").mkdir()   # a build report of another schema version is not read
    (tmp_path / "old" / "report.json").write_text(json.dumps(
        {"board": "old", "config": "folded", "fmax_mhz": 50.0, "clock": {"achieved_mhz": 48.0}}))
    assert report.board_clock(tmp_path, "folded")["clock_mhz"] == 18.0
    for hidden in (".icebreaker.1234.tmp", ".icebreaker.previous"):   # a build's staging
        (tmp_path / hidden).mkdir()
        (tmp_path / hidden / "report.json").write_text(json.dumps(
            {"schema_version": schema.BUILD, "board": "icebreaker", "config": "folded",
             "fmax_mhz": 30.0, "clock": {"achieved_mhz": 25.0}}))
    assert report.board_clock(tmp_path, "folded")["clock_mhz"] == 18.0
    nominal = report.board_clock(tmp_path / "ulx3s", "parallel")
    assert nominal == {"clock_mhz": report.NOMINAL_CLOCK_MHZ, "fmax_mhz": None,
                       "clock_source": nominal["clock_source"]}
    # a netlist of one board: that board's builds only
    assert report.board_clock(tmp_path, "folded", board="icebreaker")["clock_mhz"] == 18.0
    assert report.board_clock(tmp_path, "folded", board="ulx3s")["fmax_mhz"] is None


def test_a_board_netlist_defaults_to_the_configuration_its_build_chose(tmp_path):
    from sim.run import board_config
    (tmp_path / "icebreaker").mkdir()
    (tmp_path / "icebreaker" / "report.json").write_text(json.dumps({"config": "folded"}))
    assert board_config("icebreaker", tmp_path) == "parallel"  # no schema version: not read
    (tmp_path / "icebreaker" / "report.json").write_text(json.dumps(
        {"schema_version": schema.BUILD, "config": "folded"}))
    assert board_config("icebreaker", tmp_path) == "folded"
    assert board_config("ulx3s", tmp_path) == "parallel"       # no build
    assert board_config(None, tmp_path) == "parallel"          # the RTL
    (tmp_path / "icebreaker" / "report.json").write_text("{not json")
    assert board_config("icebreaker", tmp_path) == "parallel"


def test_declared_timing_from_the_export_or_derived():
    derived = report.declared_timing({"latency_cycles": 23, "ii": 1})
    assert derived["latency_cycles"] == derived["latency_cycles_back_to_back"] == 23
    assert derived["latency_spacing_cycles"] == 1 and derived["stage_cycles"] == {"core": 23}
    assert set(derived["derived"]) == {"latency_cycles_back_to_back", "latency_spacing_cycles",
                                       "stage_cycles"}
    stages = {"features": 3, "layer0": 2, "layer1": 2, "argmax": 1}
    given = report.declared_timing({"latency_cycles": 8, "ii": 1, "stage_cycles": stages,
                                    "latency_cycles_back_to_back": 9,
                                    "latency_spacing_cycles": 2})
    assert given["stage_cycles"] == stages and given["derived"] == []
    assert (given["latency_cycles_back_to_back"], given["latency_spacing_cycles"]) == (9, 2)


def test_float_forward_matches_the_training_network():
    from sw.learn.model import FloatMLP
    model = random_model(np.random.default_rng(0), hidden=(8, 5))
    layers = report.float_layers(model)
    x = np.random.default_rng(1).uniform(-1, 1, (20, 7))
    expected = FloatMLP([w for w, _ in layers], [b for _, b in layers]).forward(x)
    assert np.allclose(report.float_forward(layers, x), expected)


def fake_results(latency=23):
    return {"klines": 100, "outputs": 90, "mismatches": 0, "first_mismatches": [],
            "reset_at_kline": 50, "discarded_at_reset": 10,
            "latency_cycles": [latency] * 80 + [latency + 5] * 10,
            "nostall_latency_cycles": [latency] * 10, "ii_cycles": 1,
            "throughput_klines_per_cycle": 0.6, "gap_probability": 0.2,
            "stall_probability": 0.2, "seed": 0, "core": {"latency_cycles": latency, "ii": 1}}


def fake_timings():
    return {"sw_compiled_ns": np.arange(100, 200), "sw_compiled_loop_ns": 140.0,
            "sw_compiled_independent_ns": 135.0, "sw_compiled_timer_overhead_ns": 30.0,
            "sw_compiled_mismatches": 0, "sw_golden_us": [50.0] * 10,
            "sw_float_us": [30.0] * 10}


@pytest.mark.parametrize("fmax", [None, 105.98])
def test_report_keys_follow_the_schema(tmp_path, fmax):
    clock = {"clock_mhz": 100.0, "fmax_mhz": fmax, "clock_source": "nominal: test"}
    about = {"config": "parallel", "data": "d.csv", "model": "m", "scheme": {"name": "random"},
             "simulation_s": 1.0}
    r = report.latency_report(fake_results(), fake_timings(), clock, about)
    assert r["schema_version"] == schema.LATENCY
    assert r["latency_cycles"] == 23 and r["ii"] == 1 and r["measured_ii"] == 1
    assert r["measured_latency_cycles"] == {"min": 23, "median": 23, "max": 23}
    assert r["latency_ns"] == pytest.approx(230.0)
    assert r["latency_ns_at_fmax"] == (None if fmax is None else pytest.approx(23_000 / fmax))
    assert r["sw_compiled_ns"] == pytest.approx(149.5)
    assert r["speedup_vs_sw_compiled"] == pytest.approx(149.5 / 230)
    assert r["speedup_vs_sw_golden"] == pytest.approx(50_000 / 230)
    paths = report.write(r, fake_results(), fake_timings(), tmp_path)
    assert json.loads(paths["json"].read_text()) == json.loads(json.dumps(r))
    text = paths["md"].read_text()
    assert "1.54× slower" in text and "derived here" in text
    assert paths["png"].stat().st_size > 10_000


def test_a_busy_machine_is_said(tmp_path):
    clock = {"clock_mhz": 100.0, "fmax_mhz": None, "clock_source": "nominal: test"}
    about = {"config": "parallel", "data": "d.csv", "model": "m", "scheme": {"name": "random"},
             "simulation_s": 1.0}
    timings = fake_timings()
    r = report.latency_report(fake_results(), timings, clock, about)
    assert report.slowed(r) == ""
    timings["sw_compiled_loop_ns"] = 100.0
    r = report.latency_report(fake_results(), timings, clock, about)
    assert "1.5× the loop's CPU time" in report.markdown(r, "latency.png")
