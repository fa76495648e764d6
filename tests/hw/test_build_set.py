"""hw.build replaces its outputs as one set, only on success; usage errors come before any
work. The flow runs on a stand-in toolchain (tests/hw/standin_tools.py), in seconds."""

import json
from pathlib import Path

import numpy as np
import pytest

from hw.build import main
from sw.spec.artifact import random_model, save
from tests.hw import standin_tools


@pytest.fixture
def standin(tmp_path, monkeypatch):
    """The stand-in tools on Amaranth's tool variables; returns the environment."""
    for variable, path in standin_tools.install(tmp_path / "tools").items():
        monkeypatch.setenv(variable, path)
    monkeypatch.setenv("STANDIN_MARK", "first")
    return monkeypatch


@pytest.fixture
def model(tmp_path):
    return save(random_model(np.random.default_rng(0)), tmp_path / "model")


def build(tmp_path, model, *argv) -> int:
    return main(["--board", "icebreaker", "--config", "folded", "--model", str(model),
                 "--out", str(tmp_path / "build"), "--placement", "timing", *argv])


def snapshot(directory: Path) -> dict:
    return {path.relative_to(directory): path.read_bytes()
            for path in sorted(directory.rglob("*")) if path.is_file()}


def test_a_build_replaces_the_whole_set(standin, tmp_path, model):
    assert build(tmp_path, model) == 0
    board = tmp_path / "build" / "icebreaker"
    first = snapshot(board)
    assert first[Path("trader.bit")] == b"stand-in bitstream first"
    assert {"report.json", "report.md", "yosys.log", "nextpnr.log"} <= {
        path.name for path in first}
    standin.setenv("STANDIN_MARK", "second")
    assert build(tmp_path, model) == 0
    assert (board / "trader.bit").read_bytes() == b"stand-in bitstream second"
    assert sorted(path.name for path in (tmp_path / "build").iterdir()) == ["icebreaker"]


def test_a_failed_build_leaves_the_previous_set_whole(standin, tmp_path, model, capsys):
    """D9: timing not met; the previous bitstream, report and logs stay as they were"""
    assert build(tmp_path, model) == 0
    board = tmp_path / "build" / "icebreaker"
    before = snapshot(board)
    standin.setenv("STANDIN_FMAX", "5")
    standin.setenv("STANDIN_MARK", "second")
    assert build(tmp_path, model) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: timing not met: fmax 5.00 MHz") and error.endswith(
        f"the previous build kept; this one's report and logs in {board / 'failed'}")
    after = snapshot(board)
    failed = {path: data for path, data in after.items() if path.parts[0] == "failed"}
    assert {path: data for path, data in after.items() if path not in failed} == before
    report = json.loads(failed[Path("failed/report.json")])
    assert report["timing_met"] is False and report["bitstream"] is None
    assert sorted(path.name for path in (tmp_path / "build").iterdir()) == ["icebreaker"]


@pytest.mark.parametrize("argv, message", [
    (["--clock-mhz", "0"], "--clock-mhz must be positive, got 0"),             # D14
    (["--clock-mhz", "-5"], "--clock-mhz must be positive, got -5"),
])
def test_a_clock_of_zero_or_below_is_a_usage_error(standin, tmp_path, model, capsys, argv,
                                                   message):
    with pytest.raises(SystemExit) as exit_:
        build(tmp_path, model, *argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "build").exists()


def test_an_explicit_model_must_be_an_artifact(standin, tmp_path, capsys, data_dir):
    """D15: a mistyped --model, or a CSV given as --model, trains nothing and builds
    nothing"""
    missing = tmp_path / "mdoel"
    assert build(tmp_path, missing) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: --model: {missing}: no model file (run `python -m sw.train` "
        "first)")
    csv = data_dir / "BTCUSDT_linear_60m.csv"
    assert build(tmp_path, csv) == 2
    assert capsys.readouterr().err.startswith(f"error: --model: {csv}")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tools"]


def test_an_out_that_cannot_be_written_is_a_usage_error(standin, tmp_path, model, capsys):
    (tmp_path / "build").write_text("a file")
    assert build(tmp_path, model) == 2
    assert "error: --out" in capsys.readouterr().err
