"""cocotb on Icarus Verilog: the generated core against sw.spec.golden, with its latency measured.

Every test builds into its own directory under ``tmp_path``, so pytest-xdist runs them
side by side. Subsets keep CI short; ``python -m sim.run`` streams the whole file.
"""

import json

import pytest

from sim.core_bench import MIN_KLINES, plan
from sim.run import export_core, simulate
from sim.run import main as sim_run
from sim.runner import run_bench
from sw.spec.artifact import save

CORE_KLINES = 3000
SMALL_KLINES = 400
FOLDED_KLINES = 120


@pytest.fixture(scope="module")
def model_dir(default_model, tmp_path_factory):
    return save(default_model, tmp_path_factory.mktemp("model")).parent


@pytest.fixture(scope="module")
def int4_model_dir(klines_5m, tmp_path_factory):
    from sw.learn.train import train_model
    model = train_model(klines_5m, weight_bits=4, progress=False)
    assert {layer.weight_bits for layer in model.layers} == {4}
    return save(model, tmp_path_factory.mktemp("int4")).parent


def assert_core_matches(results: dict, klines: int):
    declared = results["declared"]
    assert results["klines"] == klines
    assert results["mismatches"] == 0, results["first_mismatches"]
    assert results["outputs"] + results["discarded_at_reset"] == klines
    assert set(results["nostall_latency_cycles"]) == {declared["latency"]}
    assert results["ii_cycles"] == results["ii_max_cycles"] == declared["ii"]
    assert results["reset_at_kline"] == klines // 2
    assert min(results["latency_cycles"]) == declared["latency"]
    assert 0 < results["throughput_klines_per_cycle"] <= 1 / declared["ii"]
    assert declared == {"latency": results["core"]["latency_cycles"], "ii": results["core"]["ii"]}


@pytest.mark.sim
def test_parallel_core_on_recorded_klines(model_dir, data_dir, tmp_path):
    results = simulate(model_dir, data_dir / "BTCUSDT_linear_5m.csv", "parallel",
                       tmp_path / "parallel", seed=1, limit=CORE_KLINES)
    assert_core_matches(results, CORE_KLINES)
    assert results["core"]["ii"] == 1
    # backpressure did stretch some latencies, and the reset cut klines in flight
    assert max(results["latency_cycles"]) > results["core"]["latency_cycles"]
    assert results["discarded_at_reset"] > 0 or results["core"]["latency_cycles"] == 0


@pytest.mark.sim
def test_folded_core(model_dir, data_dir, tmp_path):
    results = simulate(model_dir, data_dir / "BTCUSDT_linear_5m.csv", "folded",
                       tmp_path / "folded", seed=2, limit=FOLDED_KLINES)
    assert_core_matches(results, FOLDED_KLINES)
    assert results["core"]["ii"] > 1


@pytest.mark.sim
def test_int4_core(int4_model_dir, data_dir, tmp_path):
    results = simulate(int4_model_dir, data_dir / "BTCUSDT_linear_5m.csv", "parallel",
                       tmp_path / "int4", seed=3, limit=SMALL_KLINES)
    assert_core_matches(results, SMALL_KLINES)


@pytest.mark.sim
def test_extreme_klines(model_dir, tmp_path):
    verilog, core = export_core(model_dir, "parallel", tmp_path)
    results = run_bench([verilog], "signal_core", "sim.edge_bench", tmp_path,
                        {"model": str(model_dir), "seed": 4,
                         "declared": {"latency": core["latency_cycles"], "ii": core["ii"]}})
    assert results["mismatches"] == 0, results["first_mismatches"]
    assert results["outputs"] == results["klines"] == sum(
        case["klines"] for case in results["cases"].values())
    assert {"limit moves", "zero volume window", "long gap", "largest values",
            "smallest values", "warm-up, short"} <= set(results["cases"])


@pytest.mark.sim
def test_run_writes_the_latency_report(model_dir, data_dir, tmp_path, capsys):
    code = sim_run(["--data", str(data_dir / "BTCUSDT_linear_5m.csv"), "--model",
                    str(model_dir), "--limit", "300", "--seed", "5",
                    "--reports", str(tmp_path / "reports"), "--build", str(tmp_path / "sim")])
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "reports" / "latency.json").read_text())
    assert report["schema_version"] == 1 and report["scheme"]["name"]
    assert report["klines"] == 300 and report["mismatches"] == 0
    assert report["measured_latency_cycles"]["max"] == report["latency_cycles"]
    assert report["measured_ii"] == report["ii"]
    assert isinstance(report["latency_cycles"], int)
    assert sum(report["stage_cycles"].values()) == report["latency_cycles"]
    assert report["latency_ns"] == pytest.approx(report["latency_cycles"] * 1e3
                                                 / report["clock_mhz"])
    assert report["sw_compiled_klines"] == 25_920 and report["sw_compiled_mismatches"] == 0
    assert report["speedup_vs_sw_compiled"] == pytest.approx(report["sw_compiled_ns"]
                                                             / report["latency_ns"])
    assert 0 < report["sw_compiled_ns"] <= report["sw_compiled_p99_ns"]
    assert report["sw_float_us"] > 0 and report["sw_golden_us"] > 0
    markdown = (tmp_path / "reports" / "latency.md").read_text()
    assert "mismatches" in markdown and "compiled software" in markdown
    assert (tmp_path / "reports" / "latency.png").stat().st_size > 10_000
    assert "300 klines, 0 mismatches" in capsys.readouterr().out


def test_run_without_a_model_says_how_to_train_one(data_dir, tmp_path, capsys):
    code = sim_run(["--data", str(data_dir / "BTCUSDT_linear_5m.csv"),
                    "--model", str(tmp_path / "none")])
    assert code == 1
    assert "python -m sw.train" in capsys.readouterr().err


def test_run_rejects_a_bad_kline_file(model_dir, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("time,price\n1,2\n")
    assert sim_run(["--data", str(bad), "--model", str(model_dir)]) == 1
    assert "header" in capsys.readouterr().err


def test_run_rejects_a_limit_below_the_bench_minimum(capsys):
    with pytest.raises(SystemExit) as exit_:
        sim_run(["--data", "unread.csv", "--limit", str(MIN_KLINES - 1)])
    assert exit_.value.code == 2
    assert f"error: --limit must be at least {MIN_KLINES}" in capsys.readouterr().err


def test_bench_plan_measures_latency_and_ii_from_its_minimum():
    full_rate, reset_at = plan({}, MIN_KLINES)
    assert full_rate >= 2 and reset_at < MIN_KLINES   # an II to measure, klines after the reset
    with pytest.raises(ValueError, match=f"at least {MIN_KLINES} klines"):
        plan({}, MIN_KLINES - 1)
