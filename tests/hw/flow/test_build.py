"""The board build: CLI errors, and real bitstreams for the ULX3S and the iCEBreaker."""

import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.board.boards import BOARDS, BoardError, board
from hw.flow import build
from sw.spec import artifact

REPORT_KEYS = {"schema_version", "clock_mhz", "fmax_mhz", "timing_met", "resources",
               "latency_cycles", "latency_cycles_back_to_back", "latency_spacing_cycles",
               "stage_cycles", "latency_ns", "latency_ns_at_fmax", "ii"}


class StandInCore(wiring.Component):
    """A core with LinkedCore's ports whose ``parallel`` configuration needs 12
    multipliers (more than the UP5K's 8 DSPs) and ``folded`` one: it exercises the
    ``--config auto`` fallback in seconds."""
    rx: In(1)
    tx: Out(1)
    leds: Out(8)

    def __init__(self, model, *, config, clk_freq, baud):
        self.multipliers = {"parallel": 12, "folded": 1}[config]
        self.latency, self.ii = 3, 13 - self.multipliers
        super().__init__()

    def timing(self):
        return {"latency_cycles": self.latency, "latency_cycles_back_to_back": self.latency,
                "latency_spacing_cycles": 1, "stage_cycles": {"all": self.latency},
                "ii": self.ii}

    def elaborate(self, platform):
        m = Module()
        acc = Signal(16)
        for index in range(self.multipliers):
            a, b, product = Signal(9), Signal(9), Signal(18)
            m.d.sync += [a.eq(a + self.rx), b.eq(b + index + 3), product.eq(a * b)]
            acc = acc ^ product[-16:]
        flat = Signal(16)
        m.d.sync += [flat.eq(acc), self.tx.eq(self.rx)]
        m.d.comb += self.leds.eq(flat[:8] ^ flat[8:])
        return m


def run_cli(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        build.main(list(argv))
    return exit_info.value.code, capsys.readouterr().err


def test_unknown_board_lists_valid_ones(capsys):
    code, err = run_cli(capsys, "--board", "de0nano")
    assert code == 2
    assert "de0nano" in err and all(name in err for name in BOARDS)
    assert "Traceback" not in err


def test_unknown_device_lists_valid_ones(capsys):
    code, err = run_cli(capsys, "--board", "ulx3s", "--device", "99F")
    assert code == 2
    assert "'99F'" in err and "12F, 25F, 45F, 85F" in err


def test_unreachable_clock_is_a_usage_error(capsys, tmp_path):
    artifact.save(artifact.random_model(np.random.default_rng(0)), tmp_path / "model")
    code, err = run_cli(capsys, "--board", "icebreaker", "--clock-mhz", "500",
                        "--model", str(tmp_path / "model"), "--out", str(tmp_path))
    assert code == 2 and "500 MHz is outside" in err


def test_board_table():
    assert board("ulx3s").default_device == "85F"
    assert board("ulx3s").platform().device == "LFE5U-85F"
    assert board("icebreaker").platform().device == "iCE40UP5K"
    with pytest.raises(BoardError, match="valid: ulx3s"):
        board("nope")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("model")
    artifact.save(artifact.random_model(np.random.default_rng(1)), directory)
    return directory


def run_build(out: Path, board_name: str, model: Path, core_factory=StandInCore,
              **options) -> tuple:
    """``core_factory=None`` builds the real hw.board.top.LinkedCore."""
    start = time.monotonic()
    report = build.build(build.Options(board(board_name), board(board_name).default_device,
                                       model, out=out, **options), core_factory=core_factory)
    return report, time.monotonic() - start


@pytest.fixture(scope="module")
def ulx3s(tmp_path_factory, default_model):
    """The main job: the default trained model, fully parallel, on the ULX3S-85F."""
    out = tmp_path_factory.mktemp("build")
    model = artifact.save(default_model, out / "model")
    return out, *run_build(out, "ulx3s", model, core_factory=None)


@pytest.fixture(scope="module")
def icebreaker_synthetic(tmp_path_factory):
    """The iCEBreaker build with no model: trains one first, Bybit forced unreachable."""
    out = tmp_path_factory.mktemp("build")
    with pytest.MonkeyPatch.context() as patch:
        # a closed local port: the client fails at once, as on an offline machine
        patch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
        return out, *run_build(out, "icebreaker", out / "model", core_factory=None)


def test_over_capacity_reads_nextpnr_utilisation():
    log = ("Info: Device utilisation:\nInfo: \t         ICESTORM_LC:   36787/   5280   696%\n"
           "Info: \t        ICESTORM_RAM:       0/     30     0%\n"
           "Info: \t        ICESTORM_DSP:      12/      8   150%\n")
    assert build.over_capacity(log) == "ICESTORM_LC 36787/5280 (696%), ICESTORM_DSP 12/8 (150%)"
    assert build.over_capacity(log.replace("36787", "3678").replace("12/", " 2/")) == ""


def check_build(out: Path, board_name: str, report: dict):
    assert REPORT_KEYS <= report.keys()
    assert report == json.loads((out / board_name / "report.json").read_text())
    bitstream = out / board_name / "trader.bit"
    assert report["bitstream"] == str(bitstream)
    assert bitstream.stat().st_size > 10_000
    assert report["timing_met"] and report["fmax_mhz"] >= report["target_mhz"]
    for name in ("LUT", "FF", "DSP", "BRAM"):
        entry = report["resources"][name]
        assert 0 <= entry["used"] <= entry["available"] and entry["available"] > 0
    assert report["resources"]["LUT"]["used"] > 0
    assert report["latency_ns"] == pytest.approx(
        report["latency_cycles"] * 1e3 / report["clock_mhz"], rel=1e-3)
    assert report["latency_ns_at_fmax"] == pytest.approx(
        report["latency_cycles"] * 1e3 / report["fmax_mhz"], rel=1e-3)
    assert sum(report["stage_cycles"].values()) == report["latency_cycles"]
    assert report["clock_mhz"] == report["clock"]["achieved_mhz"]
    assert set(report["steps_s"]) == {"elaborate", "rtlil", "synthesis", "place_and_route",
                                      "packing"}
    assert (out / board_name / "report.md").read_text().startswith("# Build report")
    assert not (out / board_name / "work").exists()


def test_ulx3s_bitstream(ulx3s):
    out, report, seconds = ulx3s
    print(f"ulx3s build: {seconds:.1f} s")
    check_build(out, "ulx3s", report)
    assert report["device"] == "LFE5U-85F"
    assert report["clock_mhz"] == BOARDS["ulx3s"].clock_mhz["parallel"]
    assert report["target_mhz"] == pytest.approx(report["clock_mhz"])
    assert report["model"]["synthetic"] is False
    assert report["config"] == "parallel" and report["ii"] == 1
    assert report["latency_ns"] <= 100
    assert report["latency_cycles_back_to_back"] == report["latency_cycles"]
    assert "SYNTHETIC" not in (out / "ulx3s" / "report.md").read_text()


def test_icebreaker_bitstream_from_synthetic_model(icebreaker_synthetic):
    out, report, seconds = icebreaker_synthetic
    print(f"icebreaker build (training included): {seconds:.1f} s")
    check_build(out, "icebreaker", report)
    assert (out / "icebreaker" / "trader.bin").read_bytes() == \
        (out / "icebreaker" / "trader.bit").read_bytes()
    assert report["config"] == "folded"
    attempts = report["config_choice"]["attempts"]
    assert [a["config"] for a in attempts] == ["parallel", "folded"]
    assert "does not fit" in attempts[0]["outcome"]
    assert report["model"]["synthetic"] is True and report["model"]["trained_now"] is True
    assert artifact.load(out / "model").meta["data"]["synthetic"] is True
    assert "WARNING: the model was trained on SYNTHETIC klines" in \
        (out / "icebreaker" / "report.md").read_text()


def test_program_without_programmer_fails_before_building(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("OPENFPGALOADER", raising=False)
    code = build.main(["--board", "ulx3s", "--program", "--model", str(tmp_path / "none"),
                       "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "needs openFPGALoader" in err and "Traceback" not in err
    assert not (tmp_path / "none").exists() and not (tmp_path / "ulx3s").exists()


def test_missed_timing_writes_no_bitstream_unless_allowed(tmp_path, model_dir):
    with pytest.raises(build.BuildError, match=r"timing not met: fmax [\d.]+ MHz < 20[01]"):
        run_build(tmp_path, "icebreaker", model_dir, config="folded", clock_mhz=200)
    report = json.loads((tmp_path / "icebreaker" / "report.json").read_text())
    assert report["timing_met"] is False and report["bitstream"] is None
    assert not list((tmp_path / "icebreaker").glob("trader.*"))
    report, _ = run_build(tmp_path, "icebreaker", model_dir, config="folded", clock_mhz=200,
                          allow_timing_failure=True, placements=("timing",), seeds=(7,),
                          keep_files=True)
    assert report["timing_met"] is False and (tmp_path / "icebreaker" / "trader.bit").exists()
    assert "timing NOT met" in (tmp_path / "icebreaker" / "report.md").read_text()
    assert "NOT met (timing-driven placement, seed 7)" in (
        tmp_path / "icebreaker" / "report.md").read_text()
    script = (tmp_path / "icebreaker" / "work" / "build_trader.sh").read_text()
    assert report["placement"] == "timing" and report["seed"] == 7 and "--seed 7" in script


def test_impossible_baud_rate_is_a_usage_error(capsys, model_dir):
    # 20 MHz / 10 Mbaud is two clocks per bit; the receiver needs four.
    code, err = run_cli(capsys, "--board", "icebreaker", "--baud", "10000000",
                        "--model", str(model_dir))
    assert code == 2 and "--baud" in err and "Traceback" not in err


#: A stand-in nextpnr for the placement race: the netlist it is given says, per placement and
#: seed, how long to run and what fmax to report, or to fail (over capacity, or an error).
FAKE_NEXTPNR = """
import json, pathlib, sys, time
args = sys.argv[1:]
value = lambda option: args[args.index(option) + 1]
placement = "wirelength" if "--no-tmdriv" in args else "timing"
plan = json.loads(pathlib.Path(value("--json")).read_text())[f"{placement}_{value('--seed')}"]
time.sleep(plan.get("sleep", 0))
if plan.get("overused"):
    pathlib.Path(value("--log")).write_text("Info:      ICESTORM_LC:  36787/  5280   696%\\n")
    sys.exit(1)
if "error" in plan:
    print("ERROR: " + plan["error"])
    sys.exit(1)
pathlib.Path(value("--log")).write_text(f"{placement} placement, routed\\n")
pathlib.Path(value("--report")).write_text(json.dumps(
    {"fmax": {"clk": {"achieved": plan["fmax"], "constraint": 100.0}}}))
"""


@pytest.fixture
def race(tmp_path, monkeypatch):
    """``race(plans, placements, seeds)``: place_and_route with the stand-in nextpnr;
    returns the attempt, its runs by ``(placement, seed)``, the work directory and the
    seconds it took."""
    tool = tmp_path / "fake-nextpnr"
    tool.write_text(f"#!{sys.executable}\n{FAKE_NEXTPNR}")
    tool.chmod(0o755)
    monkeypatch.setenv("NEXTPNR_ICE40", str(tool))
    command = ["nextpnr-ice40", "--report", "nextpnr.json", "--seed", "1", "--log",
               "trader.tim", "--json", "trader.json"]

    def run(plans: dict, placements: tuple, seeds: tuple):
        workdir = tmp_path / "work"
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir()
        (workdir / "trader.json").write_text(json.dumps(plans))
        attempt = build.Attempt("parallel", None, workdir)
        start = time.monotonic()
        build.place_and_route(attempt, command, placements, seeds)
        runs = {(run["placement"], run["seed"]): run for run in attempt.placements}
        return attempt, runs, workdir, time.monotonic() - start
    return run


def test_race_keeps_the_first_placement_to_meet_timing(race):
    attempt, runs, workdir, seconds = race(
        {"timing_5": {"fmax": 90}, "timing_6": {"sleep": 1, "fmax": 120},
         "timing_7": {"sleep": 120, "fmax": 150}}, ("timing",), (5, 6, 7))
    assert attempt.kept == ("timing", 6) and seconds < 60
    assert runs["timing", 5]["fmax_mhz"] == 90 and runs["timing", 5]["timing_met"] is False
    assert runs["timing", 6]["fmax_mhz"] == 120 and runs["timing", 6]["timing_met"]
    assert runs["timing", 6]["kept"] and "kept" not in runs["timing", 5]
    assert runs["timing", 7].keys() == {"placement", "seed", "stopped_after_s"}
    assert attempt.nextpnr["fmax"]["clk"]["achieved"] == 120
    assert json.loads((workdir / "nextpnr.json").read_text()) == attempt.nextpnr
    assert (workdir / "trader.tim").read_text() == "timing placement, routed\n"


def test_race_of_both_placements(race):
    attempt, runs, workdir, _ = race(
        {"wirelength_1": {"fmax": 104}, "timing_1": {"sleep": 120, "fmax": 130}},
        ("wirelength", "timing"), (1,))
    assert attempt.kept == ("wirelength", 1) and "stopped_after_s" in runs["timing", 1]
    assert (workdir / "trader.tim").read_text() == "wirelength placement, routed\n"
    attempt, runs, workdir, _ = race(
        {"wirelength_2": {"fmax": 96}, "timing_2": {"sleep": 0.5, "fmax": 130}},
        ("wirelength", "timing"), (2,))
    assert attempt.kept == ("timing", 2) and runs["wirelength", 2]["timing_met"] is False


def test_race_without_a_placement_meeting_timing_keeps_the_fastest(race):
    attempt, runs, _, _ = race({"timing_1": {"fmax": 80}, "timing_2": {"sleep": 0.5, "fmax": 95},
                                "timing_3": {"error": "no route"}}, ("timing",), (1, 2, 3))
    assert attempt.kept == ("timing", 2) and runs["timing", 2]["kept"]
    assert "nextpnr failed: ERROR: no route" in runs["timing", 3]["error"]
    assert attempt.nextpnr["fmax"]["clk"]["achieved"] == 95


def test_race_stops_when_the_design_does_not_fit(race):
    start = time.monotonic()
    with pytest.raises(build.DoesNotFit, match=r"ICESTORM_LC 36787/5280 \(696%\)"):
        race({"wirelength_1": {"overused": True}, "timing_1": {"sleep": 120, "fmax": 150}},
             ("wirelength", "timing"), (1,))
    assert time.monotonic() - start < 60


def test_race_of_one_run_runs_in_the_work_directory(race):
    attempt, runs, workdir, _ = race({"timing_4": {"fmax": 110}}, ("timing",), (4,))
    assert attempt.kept == ("timing", 4) and attempt.placements == [
        {"placement": "timing", "seed": 4, "fmax_mhz": 110, "timing_met": True,
         "seconds": pytest.approx(0, abs=30), "kept": True}]
    assert sorted(path.name for path in workdir.iterdir()) == [
        "nextpnr.json", "place_and_route.out", "trader.json", "trader.tim"]
    with pytest.raises(build.BuildError, match="nextpnr failed: ERROR: no route"):
        race({"timing_4": {"error": "no route"}}, ("timing",), (4,))


def test_default_placements_race_on_two_cores():
    cores = len(os.sched_getaffinity(0))
    assert build.default_placements() == (("wirelength", "timing") if cores > 1 else ("timing",))
    assert build.Options(board("ulx3s"), "85F", Path("m")).placements == \
        build.default_placements()
