"""python -m hw.build: usage errors before any work, the programmer, a training fallback."""

import numpy as np
import pytest

from hw import build
from hw.board.boards import BOARDS
from sw.spec import artifact


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("model")
    artifact.save(artifact.random_model(np.random.default_rng(1)), directory)
    return directory


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


def test_help_gives_each_boards_default_clocks():
    text = " ".join(build.parser().format_help().split())
    clock_help = text.split("design clock", 1)[1].split("--baud", 1)[0]
    for name, board in BOARDS.items():
        listed = clock_help.split(f"{name}: ", 1)[1].split(";")[0].split(")")[0]
        assert all(f"{config} {mhz:g}" in listed for config, mhz in board.clock_mhz.items())


def test_unreachable_clock_is_a_usage_error(capsys, tmp_path):
    artifact.save(artifact.random_model(np.random.default_rng(0)), tmp_path / "model")
    code, err = run_cli(capsys, "--board", "icebreaker", "--clock-mhz", "500",
                        "--model", str(tmp_path / "model"), "--out", str(tmp_path))
    assert code == 2 and "500 MHz is outside" in err


def test_program_without_programmer_fails_before_building(capsys, tmp_path, monkeypatch,
                                                          model_dir):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("OPENFPGALOADER", raising=False)
    code = build.main(["--board", "ulx3s", "--program", "--model", str(model_dir),
                       "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "needs openFPGALoader" in err and "Traceback" not in err
    assert not (tmp_path / "ulx3s").exists()


def test_impossible_baud_rate_is_a_usage_error(capsys, model_dir):
    # 20 MHz / 10 Mbaud is two clocks per bit; the receiver needs four.
    code, err = run_cli(capsys, "--board", "icebreaker", "--baud", "10000000",
                        "--model", str(model_dir))
    assert code == 2 and "--baud" in err and "Traceback" not in err


@pytest.mark.bitstream
def test_program_loads_an_existing_bitstream_without_a_rebuild(tmp_path, model_dir,
                                                               monkeypatch, capsys):
    from hw.flow import build as flow
    from tests.hw.flow.test_build import StandInCore
    options = flow.Options(BOARDS["icebreaker"], "UP5K", model_dir, config="folded",
                           placements=("timing",), out=tmp_path)
    flow.build(options, core_factory=StandInCore)
    built = (tmp_path / "icebreaker" / "trader.bin").read_bytes()
    calls = tmp_path / "calls"
    programmer = tmp_path / "iceprog"
    programmer.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    programmer.chmod(0o755)
    monkeypatch.setenv("ICEPROG", str(programmer))
    argv = ["--board", "icebreaker", "--config", "folded", "--model", str(model_dir),
            "--out", str(tmp_path)]
    assert build.main([*argv, "--program"]) == 0
    assert build.main([*argv, "--flash"]) == 0
    bitstream = tmp_path / "icebreaker" / "trader.bin"
    assert calls.read_text().splitlines() == [f"-S {bitstream}", f"{bitstream}"]
    assert bitstream.read_bytes() == built
    assert "loading it as it is (--rebuild builds it again)" in capsys.readouterr().err
    for other in (dict(baud=9600), dict(config="auto"), dict(clock_mhz=18),
                  dict(model=tmp_path / "other")):
        assert flow.up_to_date(flow.Options(
            BOARDS["icebreaker"], "UP5K", **{"model": model_dir, "out": tmp_path,
                                             "config": "folded", **other})) is None
