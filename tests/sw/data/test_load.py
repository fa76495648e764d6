"""Hostile kline files: each is one KlineError naming the file and the line or field."""

import json

import pytest

from sw.data.load import load
from sw.spec.klines import INSTRUMENTS, KlineError

HEADER = "timestamp,open,high,low,close,volume\n"
ROW = "{},81794.8,81998.1,81785.2,81804.9,317.956\n"


def csv_file(tmp_path, times, name="BTCUSDT_linear.csv"):
    path = tmp_path / name
    path.write_text(HEADER + "".join(ROW.format(t) for t in times))
    return path


def test_a_file_that_is_not_utf8_names_its_line(tmp_path):
    """D3"""
    path = csv_file(tmp_path, ["2025-04-03 17:05:00", "2025-04-03 17:10:00"])
    path.write_bytes(path.read_bytes().replace(b"81998.1", b"8199\xe98.1", 1))
    with pytest.raises(KlineError, match=f"{path} line 2: byte 0xe9 at column 33 is not "
                                         "UTF-8 text"):
        load(path)


def test_a_field_too_large_for_csv_names_its_line(tmp_path):
    path = csv_file(tmp_path, ["2025-04-03 17:05:00", "2025-04-03 17:10:00"])
    path.write_text(path.read_text() + '2025-04-03 17:15:00,"' + "9" * 200_000 + '"\n')
    with pytest.raises(KlineError, match=f"{path} line 4: field larger than field limit"):
        load(path)


@pytest.mark.parametrize("code, message", [
    (10006, "Too many visits!"), (10001, "params error"), (10002, "request expired")])
def test_a_recorded_error_answer_is_named(tmp_path, code, message):
    """D4: a saved answer with a non-zero retCode holds no klines"""
    path = tmp_path / "BTCUSD_inverse_1m.json"
    path.write_text(json.dumps({"retCode": code, "retMsg": message, "result": {},
                                "time": 1}))
    with pytest.raises(KlineError, match=f"{path}: a recorded Bybit error answer "
                                         f"\\(retCode {code}: {message}\\), not klines"):
        load(path)


def test_the_body_names_the_category_before_the_file_name(data_dir, tmp_path):
    """D23: a renamed response still loads as what it says it is"""
    original = data_dir / "responses" / "BTCUSD_inverse_1m_200__at_1b8bdbf0.json"
    renamed = tmp_path / "BTCUSD_linear_1m.json"
    renamed.write_text(original.read_text())
    klines = load(renamed)
    assert klines.instrument == INSTRUMENTS[("inverse", "BTCUSD")] and len(klines) == 199


@pytest.mark.parametrize("times, message", [
    # D22: a duplicate and an off-grid time are named by line, with the time
    (["2025-04-03 17:05", "2025-04-03 17:10", "2025-04-03 17:10", "2025-04-03 17:15"],
     r"line 4 \(start 2025-04-03 17:10\): not after the previous candle, a duplicate of "
     "the one starting 2025-04-03 17:10"),
    (["2025-04-03 17:05", "2025-04-03 17:10", "2025-04-03 17:12:30", "2025-04-03 17:20"],
     r"line 4 \(start 2025-04-03 17:12:30\): start is not on the 5-minute grid"),
    (["2025-04-03 17:05", "2025-04-03 17:05"],
     "cannot infer the interval from 2 candles without distinct times"),
])
def test_duplicate_and_off_grid_times_are_named_by_line(tmp_path, times, message):
    with pytest.raises(KlineError, match=message):
        load(csv_file(tmp_path, times))


def test_an_unknown_instrument_names_the_file(tmp_path):
    path = csv_file(tmp_path, ["2025-04-03 17:05", "2025-04-03 17:10"], "DOGEUSDT_linear_5m.csv")
    with pytest.raises(KlineError, match=f"{path}: no tick/lot known for linear/DOGEUSDT"):
        load(path)
