"""Exact kline parsing: decimal strings to ticks and lots, the rules, and every recorded file."""

from decimal import Decimal

import pytest

from sw.data.load import load
from sw.spec.klines import (
    INSTRUMENTS,
    KlineError,
    from_rows,
    instrument,
    interval_ms,
    to_units,
)

BTCUSDT = instrument("linear", "BTCUSDT")
T0 = 1_743_699_900_000   # 2025-04-03 17:05 UTC, on the 5-minute grid
STEP = 300_000


def row(n, open_="109280.0", high="109300.5", low="109200.1", close="109290.0",
        volume="0.001"):
    return (T0 + n * STEP, open_, high, low, close, volume)


@pytest.mark.parametrize("text, unit, units", [
    ("109280.0", "0.1", 1_092_800), ("109280", "0.1", 1_092_800),
    ("0.1", "0.1", 1), ("0.001", "0.001", 1), ("317.956", "0.001", 317_956),
    ("0", "0.001", 0), (" 83012.6 ", "0.1", 830_126), ("12131", "1", 12_131),
])
def test_decimal_strings_become_exact_units(text, unit, units):
    assert to_units(text, Decimal(unit), "x") == units


@pytest.mark.parametrize("text, unit, rule", [
    ("109280.05", "0.1", "not a multiple of 0.1"),
    ("0.0005", "0.001", "not a multiple of 0.001"),
    ("1e400x", "0.1", "not a decimal number"),
    ("NaN", "0.1", "not a finite number"),
])
def test_bad_decimal_strings_are_named(text, unit, rule):
    with pytest.raises(KlineError, match=rule):
        to_units(text, Decimal(unit), "candle 3 close")


def test_rows_become_integer_klines():
    klines = from_rows([row(0), row(1, volume="2.5")], BTCUSDT, "5")
    assert klines.rows() == [(1_092_800, 1_093_005, 1_092_001, 1_092_900, 1),
                             (1_092_800, 1_093_005, 1_092_001, 1_092_900, 2_500)]
    assert list(klines.start_ms) == [T0, T0 + STEP] and klines.gaps == []


def test_off_grid_price_names_the_candle():
    with pytest.raises(KlineError, match=r"candle 1 \(start 2025-04-03 17:10\) high: "
                                         r"109300.55 is not a multiple of 0.1"):
        from_rows([row(0), row(1, high="109300.55")], BTCUSDT, "5")


def test_word_overflow_is_an_error():
    huge = str(Decimal(2 ** 32) * BTCUSDT.tick)
    with pytest.raises(KlineError, match="32-bit hardware word"):
        from_rows([row(0, high=huge)], BTCUSDT, "5")
    just_fits = str(Decimal(2 ** 32 - 1) * BTCUSDT.tick)
    assert from_rows([row(0, high=just_fits)], BTCUSDT, "5").high[0] == 2 ** 32 - 1


def test_low_above_open_names_the_candle_and_rule():
    with pytest.raises(KlineError) as error:
        from_rows([row(0), row(1), row(2, low="109285.0")], BTCUSDT, "5", source="t.csv")
    message = str(error.value)
    assert "t.csv candle 2 (start 2025-04-03 17:15)" in message
    assert "low <= open" in message and "low 1092850" in message


@pytest.mark.parametrize("change, rule", [
    ({"open_": "0"}, "prices must be positive"),
    ({"volume": "-1"}, "volume must not be negative"),
    ({"close": "109400.0"}, "low <= open, close <= high"),
])
def test_candle_rules(change, rule):
    with pytest.raises(KlineError, match=rule):
        from_rows([row(0, **change)], BTCUSDT, "5")


def test_start_off_the_interval_grid_is_an_error():
    start, *prices = row(0)
    with pytest.raises(KlineError, match="not on the 5-minute grid"):
        from_rows([(start + 60_000, *prices)], BTCUSDT, "5")


def test_rows_must_be_oldest_first_without_duplicates():
    with pytest.raises(KlineError, match="not after the previous candle"):
        from_rows([row(1), row(0)], BTCUSDT, "5")
    with pytest.raises(KlineError, match="not after the previous candle"):
        from_rows([row(0), row(0)], BTCUSDT, "5")


def test_gaps_are_recorded_not_filled():
    klines = from_rows([row(0), row(1), row(4), row(5), row(7)], BTCUSDT, "5")
    assert len(klines) == 5
    assert klines.gaps == [(T0 + STEP, T0 + 4 * STEP), (T0 + 5 * STEP, T0 + 7 * STEP)]


def test_unknown_instrument_and_interval_are_named():
    with pytest.raises(KlineError, match="no tick/lot known for linear/DOGEUSDT"):
        instrument("linear", "DOGEUSDT")
    with pytest.raises(KlineError, match="interval '7'"):
        interval_ms("7")


@pytest.mark.parametrize("name, interval, count", [
    ("BTCUSDT_linear_5m.csv", "5", 25_920),
    ("BTCUSDT_linear_60m.csv", "60", 720),
    ("BTCUSDT_linear_240m.csv", "240", 180),
    ("BTCUSDT_linear_60m_with_turnover.csv", "60", 187),
])
def test_every_recorded_csv_loads(data_dir, name, interval, count):
    klines = load(data_dir / name)
    assert (len(klines), klines.interval, klines.instrument) == (count, interval, BTCUSDT)
    assert klines.gaps == [] and not klines.synthetic
    o, h, l, c, v = klines.matrix().T
    assert ((l <= o) & (l <= c) & (o <= h) & (c <= h)).all() and (v > 0).all()


def test_recorded_5m_csv_first_and_last_candle(klines_5m):
    assert klines_5m.rows()[0] == (817_948, 819_981, 817_852, 818_049, 317_956)
    assert klines_5m.rows()[-2] == (1_093_914, 1_094_609, 1_092_800, 1_093_854, 332_441)
    assert klines_5m.start_ms[0] == T0


def test_every_recorded_response_loads_without_its_in_progress_candle(data_dir):
    files = sorted((data_dir / "responses").glob("*.json"))
    assert len(files) == 5
    for path in files:
        klines = load(path)
        expected = 999 if "_1000_" in path.name else 199
        assert len(klines) == expected, path.name
        assert klines.interval == "1" and klines.instrument == INSTRUMENTS[("inverse", "BTCUSD")]
        assert klines.gaps == []


def test_broken_files_are_named(tmp_path):
    truncated = tmp_path / "BTCUSDT_linear_5m.csv"
    truncated.write_text("timestamp,open,high,low,close,volume\n"
                         "2025-04-03 17:05:00+00:00,81794.8,81998.1\n")
    with pytest.raises(KlineError, match="line 2: 3 fields"):
        load(truncated)
    bad_json = tmp_path / "BTCUSD_inverse_1m.json"
    bad_json.write_text('{"retCode": 0, "result": {"list": [')
    with pytest.raises(KlineError, match="not valid JSON"):
        load(bad_json)
    with pytest.raises(KlineError, match="no such kline file"):
        load(tmp_path / "missing.csv")
