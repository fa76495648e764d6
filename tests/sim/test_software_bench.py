"""The C loop of sim.software_bench: bit-exact with sw.spec.golden (correctness, not speed)."""

import json
import shutil

import numpy as np
import pytest

from sim import software_bench
from sim.edge_bench import edge_cases
from sw import cli
from sw.spec import golden, schema
from sw.spec.artifact import random_model, save
from sw.spec.features import FeatureSpec

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None,
                                reason="gcc not found: the C loop cannot be built")


@pytest.fixture(scope="module", params=software_bench.CFLAGS)
def library(request, tmp_path_factory):
    return software_bench.build_library(request.param, tmp_path_factory.mktemp("c"))


def test_c_loop_on_every_5m_kline(library, klines_5m, default_model):
    expected = golden.run(default_model, klines_5m)
    assert software_bench.mismatches(
        software_bench.CLoop(default_model, library).run(klines_5m), expected) == 0


@pytest.mark.parametrize("bits", [8, 4, 1])
def test_c_loop_on_random_models(library, klines_5m, bits):
    rng = np.random.default_rng(bits)
    spec = FeatureSpec(("volume", "ret_16", "body", "lower_wick"), (8, 12, 16, 3), 4)
    for model in (random_model(rng, weight_bits=bits),
                  random_model(rng, spec, hidden=(5, 9), classes=4, weight_bits=bits)):
        loop = software_bench.CLoop(model, library)
        for klines in [klines_5m[:3000],
                       *edge_cases(bits, model.features.warmup_klines).values()]:
            assert software_bench.mismatches(loop.run(klines), golden.run(model, klines)) == 0


def test_bench_writes_its_report(data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(software_bench, "BUILD", tmp_path / "c")
    model = save(random_model(np.random.default_rng(5)), tmp_path / "model").parent
    code = cli.run(software_bench.main, ["--data", str(data_dir / "BTCUSDT_linear_240m.csv"),
                                         "--model", str(model), "--passes", "1",
                                         "--out", str(tmp_path / "reports")])
    report = json.loads((tmp_path / "reports" / "software_bench.json").read_text())
    assert report["schema_version"] == schema.SOFTWARE_BENCH
    assert report["sw_compiled_mismatches"] == report["c_mismatches"] == 0
    assert set(report["c_builds"]) == set(software_bench.CFLAGS)
    assert report["c_loop_ns"] == min(b["loop_ns"] for b in report["c_builds"].values())
    for key in ("sw_compiled_ns", "sw_compiled_p99_ns", "sw_compiled_loop_ns",
                "sw_compiled_independent_ns", "c_ns", "c_loop_ns", "ratio_vs_c"):
        assert report[key] > 0, key
    assert code == (0 if report["within_tolerance"] else 1)
    assert "compiled / fastest C" in capsys.readouterr().out
