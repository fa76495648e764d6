"""The placement-seed bench (hw.flow.seeds) with a stand-in core and a stand-in nextpnr:
one synthesis, then every placement and seed alone, and its table."""

import json

from hw.board.boards import board
from hw.flow import build, seeds
from hw.flow.placement import PLACEMENTS
from tests.hw.flow.test_build import StandInCore, model_dir  # noqa: F401
from tests.hw.flow.test_placement import install_fake_nextpnr


def test_bench_runs_every_placement_and_seed_alone(tmp_path, monkeypatch, model_dir):
    install_fake_nextpnr(tmp_path, monkeypatch)
    plans = {"timing_1": {"fmax": 120}, "timing_2": {"fmax": 99.5}, "timing_3": {"fmax": 130},
             "wirelength_1": {"fmax": 101}, "wirelength_2": {"error": "no route"},
             "wirelength_3": {"fmax": 100.5},
             "static_1": {"fmax": 110}, "static_2": {"fmax": 105}, "static_3": {"fmax": 101}}
    synthesize = build.synthesize

    def planned(attempt, *args):   # the real synthesis, then the stand-in's plan as netlist
        command = synthesize(attempt, *args)
        (attempt.workdir / "trader.json").write_text(json.dumps(plans))
        return command

    monkeypatch.setattr(build, "synthesize", planned)
    options = build.Options(board("icebreaker"), "UP5K", model_dir, "folded", 100.0,
                            out=tmp_path / "out", seeds=(1, 2, 3), placements=tuple(PLACEMENTS))
    table = seeds.bench(options, core_factory=StandInCore)
    assert [(run["placement"], run["seed"]) for run in table["runs"]] == [
        (placement, seed) for placement in PLACEMENTS for seed in (1, 2, 3)]
    fmax = {(run["placement"], run["seed"]): run.get("fmax_mhz") for run in table["runs"]}
    assert fmax == {("timing", 1): 120, ("timing", 2): 99.5, ("timing", 3): 130,
                    ("static", 1): 110, ("static", 2): 105, ("static", 3): 101,
                    ("wirelength", 1): 101, ("wirelength", 2): None, ("wirelength", 3): 100.5}
    runs = {(run["placement"], run["seed"]): run for run in table["runs"]}
    assert "no route" in runs["wirelength", 2]["error"]
    assert table["all_met"] is False and table["min_fmax_mhz"] == 99.5
    assert abs(table["clock_mhz"] - 100) < 1 and table["latency_cycles"] == 3   # iCE40 PLL
    paths = seeds.write(table, options.out)
    assert json.loads(paths["json"].read_text()) == table
    text = paths["md"].read_text()
    assert "| timing | 2 | 99.50 | **NOT met** |" in text and "not every run met" in text
    assert not (options.directory / "work").exists()


def test_bench_runs_only_the_placements_asked_for(tmp_path, monkeypatch, model_dir):
    install_fake_nextpnr(tmp_path, monkeypatch)
    options = build.Options(board("icebreaker"), "UP5K", model_dir, "folded", 100.0,
                            out=tmp_path / "out", seeds=(2, 3), placements=("wirelength",))
    table = seeds.bench(options, core_factory=StandInCore)
    assert [(run["placement"], run["seed"]) for run in table["runs"]] == [
        ("wirelength", 2), ("wirelength", 3)]
