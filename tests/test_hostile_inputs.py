"""Every tool, given a hostile file, ends with one ``error:`` line naming the file and the
row or field: never a traceback, never an unexplained success."""

import json

import numpy as np
import pytest

from hw.export import main as export_main
from sim.run import main as sim_main
from sw.data.fetch import save_csv
from sw.data.synthetic import synthetic_klines
from sw.host import main as host_main
from sw.spec.artifact import random_model, save
from sw.train import main as train_main

KLINES = synthetic_klines(400, seed=2)


@pytest.fixture
def model(tmp_path):
    """A model that says it was trained on linear BTCUSDT 5-minute klines."""
    model = random_model(np.random.default_rng(0))
    model.meta["data"] = {"category": "linear", "symbol": "BTCUSDT", "interval": "5"}
    return save(model, tmp_path / "model" / "model.json")


@pytest.fixture
def data(tmp_path):
    return save_csv(KLINES, tmp_path / "BTCUSDT_linear_5m.csv")


def tools(model, data, tmp_path):
    """Each tool's arguments, reading ``model`` and ``data``."""
    return {
        "sw.train": (train_main, ["--data", str(data), "--out", str(tmp_path / "out"),
                                  "--reports", str(tmp_path / "reports"), "--epochs", "1"]),
        "sim.run": (sim_main, ["--data", str(data), "--model", str(model), "--build",
                               str(tmp_path / "sim"), "--reports", str(tmp_path / "reports")]),
        "sw.host": (host_main, ["--port", str(tmp_path / "no-tty"), "--data", str(data),
                                "--model", str(model)]),
        "hw.export": (export_main, ["--model", str(model), "--out", str(tmp_path / "v")]),
    }


def one_error(tool, argv, capsys, code=1) -> str:
    main, args = tool
    assert main(args + argv) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("error: ") and "Traceback" not in "\n".join(err), err
    return err[-1]


@pytest.mark.parametrize("name", ["sw.train", "sim.run", "sw.host"])
def test_a_data_file_that_is_not_utf8(model, data, tmp_path, capsys, name):
    """D3"""
    data.write_bytes(data.read_bytes().replace(b"\n", b"\n\xff", 1))
    error = one_error(tools(model, data, tmp_path)[name], [], capsys)
    assert error == f"error: {data} line 2: byte 0xff at column 1 is not UTF-8 text"


@pytest.mark.parametrize("name", ["sw.train", "sim.run", "sw.host"])
def test_a_recorded_busy_answer(model, data, tmp_path, capsys, name):
    """D4"""
    busy = tmp_path / "BTCUSDT_linear_5m.json"
    busy.write_text(json.dumps({"retCode": 10006, "retMsg": "Too many visits!",
                                "result": {}, "time": 1}))
    main, args = tools(model, busy, tmp_path)[name]
    assert one_error((main, args), [], capsys) == (
        f"error: {busy}: a recorded Bybit error answer (retCode 10006: Too many visits!), "
        "not klines")


@pytest.mark.parametrize("field, value, message", [
    ("input_scale", "0.5", 'layers[0].input_scale: expected float, got "0.5"'),   # D5
    ("meta", [], "meta: expected dict, got []"),                                  # D6
    ("schema_version", True, "schema_version: file has true, this toolkit reads 2"),  # D21
    ("bias", True, "layers[0].bias[0]: expected int, got true"),                  # D21
])
@pytest.mark.parametrize("name", ["sim.run", "sw.host", "hw.export"])
def test_a_model_field_of_the_wrong_type(model, data, tmp_path, capsys, name, field, value,
                                         message):
    content = json.loads(model.read_text())
    if field in ("input_scale",):
        content["layers"][0][field] = value
    elif field == "bias":
        content["layers"][0]["bias"][0] = value
    else:
        content[field] = value
    model.write_text(json.dumps(content))
    assert one_error(tools(model, data, tmp_path)[name], [], capsys).startswith(
        f"error: {model}: {message}")


@pytest.mark.parametrize("name", ["sim.run", "sw.host"])
def test_a_model_of_another_market_is_refused_unless_forced(model, data_dir, tmp_path,
                                                           capsys, name):
    """D19: a linear BTCUSDT 5-minute model on inverse BTCUSD 1-minute klines"""
    inverse = data_dir / "responses" / "BTCUSD_inverse_1m_1000__at_1b8bdbf0.json"
    tool = tools(model, inverse, tmp_path)[name]
    assert one_error(tool, [], capsys) == (
        f"error: {inverse.name} holds inverse BTCUSD interval 1 klines, the model was "
        "trained on linear BTCUSDT interval 5 klines (category, symbol, interval differ): "
        "its features and thresholds mean something else there; --force runs it anyway")
    if name == "sw.host":   # forced, it goes on to open the port
        assert "cannot open serial port" in one_error(tool, ["--force"], capsys)


def test_gaps_are_named_with_their_times(model, tmp_path, capsys):
    """D20: a warning with the times for the tools that run a model on the klines"""
    holed = save_csv(KLINES[:100], tmp_path / "BTCUSDT_linear_5m.csv")
    text = holed.read_text().splitlines(keepends=True)
    holed.write_text("".join(text[:11] + text[14:]))
    main, args = tools(model, holed, tmp_path)["sw.host"]
    assert main(args) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (f"gap: {holed.name}: no klines between 2025-01-01 00:45 and "
                      "2025-01-01 01:05 (3 missing)")
    assert err[1].startswith("error: cannot open serial port")


def test_constant_prices_cannot_make_labels(tmp_path, capsys, model):
    """D18, D24: refused with the reason, before any training or quantization"""
    flat = tmp_path / "BTCUSDT_linear_5m.csv"
    flat.write_text("timestamp,open,high,low,close,volume\n" + "".join(
        f"{t},100.0,100.0,100.0,100.0,1.000\n" for t in KLINES.start_ms[:300]))
    error = one_error(tools(model, flat, tmp_path)["sw.train"], [], capsys)
    assert error == ("error: BTCUSDT_linear_5m.csv: cannot make the cost-aware-6 labels: its "
                     "return is 0 for every training kline (constant prices?), so every "
                     "training kline is 'flat'")
    assert not (tmp_path / "out").exists()


def test_a_duplicate_timestamp_is_named_by_line(model, data, tmp_path, capsys):
    """D22"""
    lines = data.read_text().splitlines(keepends=True)
    data.write_text("".join(lines[:6] + lines[5:6] + lines[6:]))
    error = one_error(tools(model, data, tmp_path)["sim.run"], [], capsys)
    assert error == (f"error: {data.name} line 7 (start 2025-01-01 00:20): not after the "
                     "previous candle, a duplicate of the one starting 2025-01-01 00:20; rows "
                     "must be oldest first without duplicates")


def test_training_refuses_gaps_unless_allowed(model, tmp_path, capsys):
    """D20: an error naming the first gap with its times, for training only"""
    holed = save_csv(KLINES, tmp_path / "BTCUSDT_linear_5m.csv")
    text = holed.read_text().splitlines(keepends=True)
    holed.write_text("".join(text[:11] + text[14:]))
    tool = tools(model, holed, tmp_path)["sw.train"]
    assert one_error(tool, [], capsys) == (
        f"error: {holed.name}: 1 gap (3 klines missing), the first between 2025-01-01 00:45 "
        "and 2025-01-01 01:05: features and labels across a gap join candles that are not "
        "neighbours; --allow-gaps trains anyway")
    assert not (tmp_path / "out").exists()
    main, args = tool
    assert main(args + ["--allow-gaps"]) == 0
    assert "gap: BTCUSDT_linear_5m.csv: no klines between 2025-01-01 00:45 and 2025-01-01 " \
           "01:05 (3 missing)" in capsys.readouterr().err


def test_zero_volume_everywhere_is_said(model, tmp_path, capsys):
    """D18"""
    silent = save_csv(KLINES, tmp_path / "BTCUSDT_linear_5m.csv")
    lines = silent.read_text().splitlines()
    silent.write_text("\n".join([lines[0], *(line.rsplit(",", 1)[0] + ",0.000"
                                              for line in lines[1:])]) + "\n")
    main, args = tools(model, silent, tmp_path)["sw.train"]
    assert main(args) == 0
    assert ("warning: BTCUSDT_linear_5m.csv: volume is 0 in every kline, so the volume "
            "feature carries nothing") in capsys.readouterr().err.splitlines()


@pytest.mark.parametrize("name, option", [("sw.train", "--out"), ("sw.train", "--reports"),
                                          ("hw.export", "--out")])
def test_an_output_that_cannot_be_written_is_a_usage_error(model, data, tmp_path, capsys,
                                                           name, option):
    """D7: before any work, one line naming the option"""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    main, args = tools(model, data, tmp_path)[name]
    args = args[:args.index(option) + 1] + [str(blocker)] + args[args.index(option) + 2:]
    assert one_error((main, args), [], capsys, code=2) == \
        f"error: {option} {blocker} is a file, not a directory"
