"""The placement race, driven by a stand-in nextpnr: which run is kept, which are stopped,
what the work directory holds afterwards, and how many placements race by default."""

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from hw.board.boards import board
from hw.flow import placement
from hw.flow.build import Options
from hw.flow.toolchain import Progress

#: Progress lines this often in the race tests, so that a short race has some.
PROGRESS_EVERY_S = 0.3

def test_over_capacity_reads_nextpnr_utilisation():
    log = ("Info: Device utilisation:\nInfo: \t         ICESTORM_LC:   36787/   5280   696%\n"
           "Info: \t        ICESTORM_RAM:       0/     30     0%\n"
           "Info: \t        ICESTORM_DSP:      12/      8   150%\n")
    assert placement.over_capacity(log) == "ICESTORM_LC 36787/5280 (696%), ICESTORM_DSP 12/8 (150%)"
    assert placement.over_capacity(log.replace("36787", "3678").replace("12/", " 2/")) == ""



#: A stand-in nextpnr for the placement race: the netlist it is given says, per placement and
#: seed, how long to run and what fmax to report, or to fail (over capacity, or an error).
FAKE_NEXTPNR = """
import json, pathlib, sys, time
args = sys.argv[1:]
value = lambda option: args[args.index(option) + 1]
placement = ("wirelength" if "--no-tmdriv" in args else
             value("--placer") if "--placer" in args else "timing")
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


def install_fake_nextpnr(directory, monkeypatch):
    """:data:`FAKE_NEXTPNR` as the nextpnr-ice40 the flow runs."""
    tool = directory / "fake-nextpnr"
    tool.write_text(f"#!{sys.executable}\n{FAKE_NEXTPNR}")
    tool.chmod(0o755)
    monkeypatch.setenv("NEXTPNR_ICE40", str(tool))


@pytest.fixture
def race(tmp_path, monkeypatch):
    """``race(plans, placements, seeds)``: place_and_route with the stand-in nextpnr;
    returns what it placed, its runs by ``(placement, seed)``, the work directory and the
    seconds it took; ``race.lines`` are its progress lines."""
    install_fake_nextpnr(tmp_path, monkeypatch)
    command = ["nextpnr-ice40", "--report", "nextpnr.json", "--seed", "1", "--log",
               "trader.tim", "--json", "trader.json"]

    lines = []

    def run(plans: dict, placements: tuple, seeds: tuple):
        workdir = tmp_path / "work"
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir()
        (workdir / "trader.json").write_text(json.dumps(plans))
        start = time.monotonic()
        placed = placement.place_and_route(command, workdir, placements, seeds,
                                           Progress(lines.append, "place_and_route",
                                                    every=PROGRESS_EVERY_S))
        runs = {(run["placement"], run["seed"]): run for run in placed.placements}
        return placed, runs, workdir, time.monotonic() - start
    run.lines = lines
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


def test_race_of_the_static_placer_against_heap(race):
    """The default race on two cores: nextpnr's electrostatic placer (``--placer static``,
    which the stand-in reads) beside HeAP."""
    attempt, runs, workdir, _ = race(
        {"static_1": {"fmax": 104}, "timing_1": {"sleep": 120, "fmax": 130}},
        placement.default_placements(2), (1,))
    assert attempt.kept == ("static", 1) and "stopped_after_s" in runs["timing", 1]
    assert (workdir / "trader.tim").read_text() == "static placement, routed\n"


def test_race_without_a_placement_meeting_timing_keeps_the_fastest(race):
    attempt, runs, _, _ = race({"timing_1": {"fmax": 80}, "timing_2": {"sleep": 0.5, "fmax": 95},
                                "timing_3": {"error": "no route"}}, ("timing",), (1, 2, 3))
    assert attempt.kept == ("timing", 2) and runs["timing", 2]["kept"]
    assert "nextpnr failed: ERROR: no route" in runs["timing", 3]["error"]
    assert attempt.nextpnr["fmax"]["clk"]["achieved"] == 95


def test_race_stops_when_the_design_does_not_fit(race):
    start = time.monotonic()
    with pytest.raises(placement.DoesNotFit, match=r"ICESTORM_LC 36787/5280 \(696%\)"):
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
    with pytest.raises(placement.BuildError, match="nextpnr failed: ERROR: no route"):
        race({"timing_4": {"error": "no route"}}, ("timing",), (4,))


@pytest.mark.parametrize("cpus, placements", [
    ({0}, ("timing",)),
    ({0, 1}, ("timing", "static")),
    ({2, 5, 7}, ("timing", "static", "wirelength")),
])
def test_default_placements_race_on_two_cores(monkeypatch, cpus, placements):
    """The CPUs this process may run on decide (a container or ``taskset`` may give it one
    of many), not how many the machine has."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: cpus)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert placement.default_placements() == placements
    assert Options(board("ulx3s"), "85F", Path("m")).placements == placements


def test_default_placements_without_affinity(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert placement.default_placements() == ("timing",)
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert placement.default_placements() == ("timing",)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert placement.default_placements() == ("timing", "static")


def test_race_says_what_still_runs(race):
    race({"wirelength_1": {"sleep": 1, "fmax": 90}, "timing_1": {"sleep": 3, "fmax": 130}},
         ("wirelength", "timing"), (1,))
    ticks = [line for line in race.lines if line.startswith("    place_and_route: ")]
    both = "wirelength placement seed 1, timing placement seed 1 still running"
    assert any(line.endswith(both) for line in ticks)
    assert ticks[-1].endswith(", timing placement seed 1 still running")
    assert "    wirelength placement seed 1: fmax 90.00 MHz, timing NOT met" in \
        "\n".join(race.lines)
    assert race.lines[-1] == "    timing placement seed 1 kept"
