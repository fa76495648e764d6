"""The Bybit client against a real local HTTP server replaying recorded data, with faults."""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from sw.data.bybit import (
    BybitClient,
    BybitDataError,
    BybitError,
    BybitParamError,
    BybitSymbolError,
    BybitUnavailable,
    parse_response,
)
from sw.data.fetch import cached_klines, save_csv
from sw.data.load import load
from sw.fetch import main
from sw.spec.klines import KlineError
from tests.sw.data.bybit_server import (  # noqa: F401
    RESET_AFTER_MS,
    Market,
    api_row,
    bybit_server,
    markets,
)

ROOT = Path(__file__).resolve().parents[3]
STEP_5M = 300_000
RETRIES = 3
TRANSIENT = ("http429", "http403", "http500", "retcode10000", "retcode10006",
             "retcode10016", "malformed", "truncated", "drop", "timeout", "skewed_clock")
# inverse 1m replay: two recorded stretches with a hole between them (a real gap)
INVERSE_GAP = (1_742_274_480_000, 1_742_419_260_000)


class Recorder:
    def __init__(self):
        self.sleeps, self.lines = [], []


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def client(bybit_server, recorder):
    return BybitClient(bybit_server.url, timeout=1.0, max_retries=RETRIES,
                       backoff_s=0.001, progress=recorder.lines.append,
                       sleep=recorder.sleeps.append, max_wait_s=0.1)


def test_local_server_answers_like_bybit(bybit_server, markets):
    url = bybit_server.url + "/v5/market/kline"
    plain = requests.get(url, params={"category": "inverse", "symbol": "BTCUSD", "interval": "1"},
                         timeout=5)
    body = plain.json()
    market = markets[("inverse", "BTCUSD", "1")]
    assert (body["retCode"], body["retMsg"], body["time"]) == (0, "OK", market.now_ms)
    rows = body["result"]["list"]
    assert len(rows) == 200 and rows == [list(r) for r in reversed(market.rows[-200:])]
    assert int(rows[0][0]) + 60_000 > body["time"]          # list[0] is still open
    assert {"X-Bapi-Limit", "X-Bapi-Limit-Status", "X-Bapi-Limit-Reset-Timestamp"} <= set(
        plain.headers)
    too_many = requests.get(url, params={"category": "linear", "symbol": "BTCUSDT",
                                         "interval": "5", "limit": "1001"}, timeout=5).json()
    assert (too_many["retCode"], too_many["retMsg"]) == (10001, "params error: limit invalid")


def test_range_is_paged_in_windows_of_1000(client, bybit_server, recorder, klines_5m):
    first = int(klines_5m.start_ms[100])
    klines = client.klines("BTCUSDT", "5", start_ms=first, end_ms=first + 2499 * STEP_5M)
    assert len(klines) == 2500 and klines.gaps == [] and not klines.synthetic
    assert np.array_equal(klines.matrix(), klines_5m.matrix()[100:2600])
    assert np.array_equal(klines.start_ms, klines_5m.start_ms[100:2600])
    windows = [(int(q["start"]), int(q["end"]), q["limit"]) for q in bybit_server.requests]
    assert windows == [(first + k * 1000 * STEP_5M,
                        min(first + (k + 1) * 1000 * STEP_5M - 1, first + 2499 * STEP_5M),
                        "1000") for k in range(3)]
    assert [line.split(":")[0] for line in recorder.lines] == [
        f"BTCUSDT linear 5 page {k}/3" for k in (1, 2, 3)]


def test_latest_count_pages_backwards_and_drops_the_open_candle(client, bybit_server,
                                                                klines_5m):
    klines = client.klines("BTCUSDT", "5", count=2500)
    # the server serves the CSV's last candle as still open
    assert np.array_equal(klines.start_ms, klines_5m.start_ms[-2501:-1])
    assert np.array_equal(klines.matrix(), klines_5m.matrix()[-2501:-1])
    ends = [q.get("end") for q in bybit_server.requests]
    assert ends[0] is None and len(ends) == 3
    assert int(ends[1]) == int(klines_5m.start_ms[-1000]) - 1


def test_open_candle_of_the_recorded_response_is_dropped(client, markets):
    market = markets[("inverse", "BTCUSD", "1")]
    klines = client.klines("BTCUSD", "1", "inverse", count=10)
    assert int(klines.start_ms[-1]) + 60_000 <= market.now_ms
    assert int(klines.start_ms[-1]) == int(market.rows[-2][0])
    assert len(klines) == 10


def test_history_runs_out_and_the_gap_is_reported(client, markets):
    klines = client.klines("BTCUSD", "1", "inverse", count=5000)
    assert len(klines) == len(markets[("inverse", "BTCUSD", "1")].rows) - 1 == 2211
    assert klines.gaps == [INVERSE_GAP]


def test_range_across_the_gap(client):
    start, end = INVERSE_GAP[0] - 10 * 60_000, INVERSE_GAP[1] + 10 * 60_000
    klines = client.klines("BTCUSD", "1", "inverse", start_ms=start, end_ms=end)
    assert klines.gaps == [INVERSE_GAP] and len(klines) == 22
    assert (int(klines.start_ms[0]), int(klines.start_ms[-1])) == (start, end)


def test_identical_duplicates_are_dropped(client, bybit_server):
    clean = client.klines("BTCUSDT", "5", count=300)
    bybit_server.fail("duplicate")
    again = client.klines("BTCUSDT", "5", count=300)
    assert np.array_equal(clean.matrix(), again.matrix()) and again.gaps == []


def test_a_gap_in_a_page_is_reported_not_filled(client, bybit_server):
    bybit_server.fail("dropped_candle")
    klines = client.klines("BTCUSDT", "5", count=300)
    assert len(klines) == 300 and len(klines.gaps) == 1
    before, after = klines.gaps[0]
    assert after - before == 2 * STEP_5M


@pytest.mark.parametrize("fault, message", [
    ("conflict", r"page 1: two different candles start at 2025-07-02 16:5"),
    ("unsorted", r"result.list\[2\] \(start 2025-07-02 16:5.\) is newer than result.list\[1\]"),
    ("field_count", r"result.list\[1\] has 6 fields, expected 7"),
    ("bad_row", r"candle \d+ \(start 2025-07-02 16:5.\): needs low <= open"),
])
def test_bad_pages_are_errors_naming_the_row(client, bybit_server, fault, message):
    bybit_server.fail(fault)
    with pytest.raises(BybitDataError, match=message) as error:
        client.klines("BTCUSDT", "5", count=300)
    assert isinstance(error.value, KlineError)
    assert len(bybit_server.requests) == 1


@pytest.mark.parametrize("fault", TRANSIENT)
def test_transient_faults_are_retried(client, bybit_server, recorder, fault):
    bybit_server.fail(fault, fault)
    klines = client.klines("BTCUSDT", "5", count=1500)
    assert len(klines) == 1500
    assert len(bybit_server.requests) == 2 + 2
    assert len(recorder.sleeps) == 2 and all(0 < s <= 0.1 for s in recorder.sleeps)
    retries = [line for line in recorder.lines if "retry" in line]
    assert [line.split("; retry ")[1][:3] for line in retries] == ["1/3", "2/3"]


@pytest.mark.parametrize("fault, reason", [
    ("http429", "HTTP 429"), ("http403", "HTTP 403"), ("http500", "HTTP 500"),
    ("retcode10006", "retCode 10006"), ("malformed", "malformed JSON"),
    ("truncated", "connection failed"), ("drop", "connection failed"),
    ("timeout", "no complete answer within"), ("trickle", "no complete answer within"),
    ("skewed_clock", "starts after the server time .* \\(skewed clock\\)"),
])
def test_retries_run_out(client, bybit_server, recorder, fault, reason):
    bybit_server.fail(*[fault] * (RETRIES + 1))
    with pytest.raises(BybitUnavailable, match=f"{reason}.*gave up after 4 attempts"):
        client.klines("BTCUSDT", "5", count=10)
    assert len(bybit_server.requests) == RETRIES + 1
    assert len(recorder.sleeps) == RETRIES


def test_a_trickling_answer_ends_at_the_deadline(bybit_server, recorder):
    """D2: one byte every TRICKLE_S never trips a per-read timeout; the total deadline
    ends each attempt, and the server sees the client go."""
    client = BybitClient(bybit_server.url, timeout=0.5, max_retries=1, backoff_s=0.001,
                         progress=recorder.lines.append, sleep=recorder.sleeps.append)
    bybit_server.fail("trickle", "trickle")
    start = time.monotonic()
    with pytest.raises(BybitUnavailable, match=r"no complete answer within 0.5 s \(gave up "
                                               "after 2 attempts"):
        client.klines("BTCUSDT", "5", count=10)
    assert time.monotonic() - start < 3
    bybit_server.fail("trickle")
    assert len(client.klines("BTCUSDT", "5", count=10)) == 10


def test_an_answer_for_another_symbol_is_refused(client, bybit_server):
    """D17"""
    bybit_server.fail("wrong_symbol")
    with pytest.raises(BybitDataError, match="page 1: the answer is for symbol 'ETHUSDT', "
                                             "not the 'BTCUSDT' asked for"):
        client.klines("BTCUSDT", "5", count=10)


def test_a_skewed_clock_drops_no_candle(client, bybit_server, klines_5m):
    """D17: a server time hours behind its own candles is retried, not taken to mean
    that the newest thousand candles are still open"""
    bybit_server.fail("skewed_clock")
    klines = client.klines("BTCUSDT", "5", count=1200)
    assert np.array_equal(klines.start_ms, klines_5m.start_ms[-1201:-1])


def test_backoff_is_exponential_and_reset_header_is_honoured(bybit_server, recorder):
    client = BybitClient(bybit_server.url, max_retries=4, backoff_s=0.01,
                         sleep=recorder.sleeps.append, max_wait_s=10)
    bybit_server.fail("http500", "http500", "http500")
    client.klines("BTCUSDT", "5", count=5)
    assert recorder.sleeps == [0.01, 0.02, 0.04]
    # the reset timestamp lies RESET_AFTER_MS ahead: wait that long, not the short backoff
    recorder.sleeps.clear()
    bybit_server.fail("http403")
    client.klines("BTCUSDT", "5", count=5)
    assert RESET_AFTER_MS / 2000 < recorder.sleeps[0] <= RESET_AFTER_MS / 1000
    # a reset far away (here: a clock far behind) is capped
    capped = BybitClient(bybit_server.url, backoff_s=0.01, sleep=recorder.sleeps.append,
                         clock=lambda: 0.0, max_wait_s=0.5)
    bybit_server.fail("retcode10006")
    capped.klines("BTCUSDT", "5", count=5)
    assert recorder.sleeps[-1] == 0.5


def test_parameter_errors_are_not_retried(client, bybit_server, recorder):
    bybit_server.fail("retcode10001")
    with pytest.raises(BybitParamError, match="params error: interval invalid"):
        client.klines("BTCUSDT", "5", count=10)
    assert len(bybit_server.requests) == 1 and recorder.sleeps == []


def test_unknown_symbol_is_named_and_not_retried(client, bybit_server, recorder):
    with pytest.raises(BybitSymbolError, match="does not know symbol 'BTCUSDX' in category "
                                               "'linear'.*10029"):
        client.klines("BTCUSDX", "5", count=10)
    assert len(bybit_server.requests) == 1 and recorder.sleeps == []


def test_symbol_without_known_tick_stops_after_one_page(client, bybit_server):
    bybit_server.markets = {**bybit_server.markets, ("linear", "SOLUSDT", "5"): Market(
        [api_row(1_743_699_900_000 + n * STEP_5M, "120.5", "121", "120", "120.7", "10")
         for n in range(3000)], 1_743_699_900_000 + 3000 * STEP_5M)}
    with pytest.raises(BybitParamError, match="no tick/lot known for linear/SOLUSDT"):
        client.klines("SOLUSDT", "5", count=2500)
    assert len(bybit_server.requests) == 1


def test_other_http_errors_are_not_retried(bybit_server, recorder):
    client = BybitClient(bybit_server.url + "/nowhere", sleep=recorder.sleeps.append)
    with pytest.raises(BybitError, match="HTTP 404"):
        client.klines("BTCUSDT", "5", count=10)
    assert recorder.sleeps == []


@pytest.fixture
def closed_url():
    """A local address nobody listens on: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_connection_refused_gives_unavailable(closed_url, recorder):
    client = BybitClient(closed_url, max_retries=1, timeout=0.5,
                         sleep=recorder.sleeps.append)
    with pytest.raises(BybitUnavailable, match="connection failed"):
        client.klines("BTCUSDT", "5", count=10)


@pytest.mark.parametrize("body, message", [
    ([], "expected a JSON object"),
    ({"retCode": "0", "retMsg": "OK"}, "integer retCode"),
    ({"retCode": 0, "retMsg": "OK", "result": {"list": []}}, "no integer server time"),
    ({"retCode": 0, "retMsg": "OK", "time": 1, "result": {}}, "result.list is missing"),
    ({"retCode": 0, "retMsg": "OK", "time": 1, "result": {"list": [[1, 2, 3, 4, 5, 6, 7]]}},
     "not 7 numeric strings"),
    ({"retCode": 10002, "retMsg": "request expired", "time": 1}, "retCode 10002"),
])
def test_envelope_is_validated(body, message):
    with pytest.raises(BybitError, match=message):
        parse_response(body, "test")


# ---- cache ----------------------------------------------------------------------------

def test_cache_fetches_only_the_missing_range(client, bybit_server, klines_5m, tmp_path):
    first = int(klines_5m.start_ms[0])
    end = first + 1499 * STEP_5M
    klines = cached_klines(client, tmp_path, "BTCUSDT", "5", start_ms=first, end_ms=end)
    assert len(klines) == 1500 and len(bybit_server.requests) == 2
    cache = tmp_path / "BTCUSDT_linear_5m.csv"
    assert np.array_equal(load(cache).matrix(), klines_5m.matrix()[:1500])

    again = cached_klines(client, tmp_path, "BTCUSDT", "5", start_ms=first + STEP_5M,
                          end_ms=end)
    assert len(bybit_server.requests) == 2
    assert np.array_equal(again.matrix(), klines_5m.matrix()[1:1500])

    longer = cached_klines(client, tmp_path, "BTCUSDT", "5", start_ms=first,
                           end_ms=end + 200 * STEP_5M)
    assert len(longer) == 1700 and len(bybit_server.requests) == 3
    assert int(bybit_server.requests[-1]["start"]) == end + STEP_5M
    assert np.array_equal(load(cache).matrix(), klines_5m.matrix()[:1700])
    assert not list(tmp_path.glob(".*tmp"))


def test_cache_of_latest_candles_fetches_only_the_tail(client, bybit_server, tmp_path,
                                                       klines_5m):
    cached_klines(client, tmp_path, "BTCUSDT", "5", count=1200)
    assert len(bybit_server.requests) == 2
    latest = cached_klines(client, tmp_path, "BTCUSDT", "5", count=1200)
    assert len(bybit_server.requests) == 3 and "start" in bybit_server.requests[-1]
    assert np.array_equal(latest.matrix(), klines_5m.matrix()[-1201:-1])
    more = cached_klines(client, tmp_path, "BTCUSDT", "5", count=1500)
    assert np.array_equal(more.matrix(), klines_5m.matrix()[-1501:-1])
    assert int(bybit_server.requests[-1]["limit"]) == 300
    fewer = cached_klines(client, tmp_path, "BTCUSDT", "5", count=10)
    assert np.array_equal(fewer.matrix(), klines_5m.matrix()[-11:-1])
    assert np.array_equal(fewer.start_ms, klines_5m.start_ms[-11:-1]) and fewer.gaps == []


def test_cache_of_more_than_the_history(client, bybit_server, tmp_path):
    args = (client, tmp_path, "BTCUSD", "1", "inverse")
    assert len(cached_klines(*args, count=3000)) == 2211
    again = cached_klines(*args, count=3000)
    assert len(again) == 2211 and again.gaps == [INVERSE_GAP]
    with pytest.raises(BybitParamError, match="either start_ms or a positive count"):
        cached_klines(*args)
    requests = len(bybit_server.requests)
    with pytest.raises(BybitParamError, match="either start_ms or a positive count"):
        cached_klines(*args, count=0)       # refused before the cache is even read
    assert len(bybit_server.requests) == requests


def test_cache_keeps_gaps(client, tmp_path):
    start, end = INVERSE_GAP[0] - 10 * 60_000, INVERSE_GAP[1] + 10 * 60_000
    args = (client, tmp_path, "BTCUSD", "1", "inverse", start, end)
    assert cached_klines(*args).gaps == [INVERSE_GAP] == cached_klines(*args).gaps


def test_corrupt_cache_is_reported_and_refetched(client, bybit_server, recorder, tmp_path,
                                                 klines_5m):
    first = int(klines_5m.start_ms[0])
    span = dict(start_ms=first, end_ms=first + 99 * STEP_5M)
    cached_klines(client, tmp_path, "BTCUSDT", "5", **span)
    cache = tmp_path / "BTCUSDT_linear_5m.csv"
    text = cache.read_text()
    cache.write_text(text[:len(text) // 2])     # as a crash mid-write without os.replace would
    klines = cached_klines(client, tmp_path, "BTCUSDT", "5", **span)
    assert any("is corrupt" in line and "line 51" in line for line in recorder.lines)
    assert len(bybit_server.requests) == 2
    assert np.array_equal(klines.matrix(), klines_5m.matrix()[:100])
    assert cache.read_text() == text


def test_interrupted_write_leaves_the_old_cache(client, bybit_server, tmp_path, klines_5m,
                                                monkeypatch):
    first = int(klines_5m.start_ms[0])
    cached_klines(client, tmp_path, "BTCUSDT", "5", start_ms=first, end_ms=first + 9 * STEP_5M)
    cache = tmp_path / "BTCUSDT_linear_5m.csv"
    before = cache.read_text()

    def interrupted(src, dst):
        raise KeyboardInterrupt
    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cached_klines(client, tmp_path, "BTCUSDT", "5", start_ms=first,
                      end_ms=first + 99 * STEP_5M)
    assert cache.read_text() == before and os.listdir(tmp_path) == [cache.name]
    monkeypatch.undo()
    bybit_server.fail(*["http500"] * (RETRIES + 1))
    with pytest.raises(BybitUnavailable):
        cached_klines(client, tmp_path, "BTCUSDT", "5", start_ms=first,
                      end_ms=first + 99 * STEP_5M)
    assert cache.read_text() == before


def test_saved_csv_reads_back_exactly(klines_5m, tmp_path, data_dir):
    part = klines_5m[:500]
    path = save_csv(part, tmp_path / "BTCUSDT_linear_5m.csv")
    back = load(path)
    assert np.array_equal(back.matrix(), part.matrix())
    assert np.array_equal(back.start_ms, part.start_ms)
    original = (data_dir / "BTCUSDT_linear_5m.csv").read_text()
    assert path.read_text().splitlines()[:2] == original.splitlines()[:2]


# ---- CLI -------------------------------------------------------------------------------

def test_cli_writes_a_csv_that_loads(bybit_server, tmp_path, capsys, klines_5m):
    out = tmp_path / "latest.csv"
    assert main(["--count", "1200", "--out", str(out), "--base-url", bybit_server.url]) == 0
    output = capsys.readouterr()
    assert "page 1:" in output.err and "page 2:" in output.err
    assert output.out.startswith("wrote 1200 candles")
    assert np.array_equal(load(out, "linear", "BTCUSDT", "5").matrix(),
                          klines_5m.matrix()[-1201:-1])


def test_cli_range_with_cache_and_gap(bybit_server, tmp_path, capsys):
    out = tmp_path / "inverse.csv"
    argv = ["--symbol", "BTCUSD", "--category", "inverse", "--interval", "1",
            "--start", "2025-03-18 05:00", "--end", "2025-03-19T21:30:00Z", "--out", str(out),
            "--cache-dir", str(tmp_path / "cache"), "--base-url", bybit_server.url]
    assert main(argv) == 0
    assert main(argv) == 0
    output = capsys.readouterr()
    assert output.err.count("gap: no candles between 2025-03-18 05:08 and 2025-03-19 21:21") == 2
    assert "wrote 19 candles 2025-03-18 05:00 .. 2025-03-19 21:30 (1 gaps)" in output.out
    # the second run is served from the cache but for the hole, which it asks for again
    # (3 pages): the server's clock has not moved, so it is not confirmed yet
    assert len(bybit_server.requests) == 6
    assert len(load(out, "inverse", "BTCUSD", "1")) == 19


def test_cli_bad_symbol_is_one_line_without_traceback(bybit_server, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "sw.fetch", "--symbol", "BTCUSDX", "--count", "10",
         "--out", str(tmp_path / "x.csv"), "--base-url", bybit_server.url],
        capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: Bybit does not know symbol 'BTCUSDX' in category 'linear' "
        "(BTCUSDX linear 5 page 1: retCode 10029: symbol invalid)"]
    assert not (tmp_path / "x.csv").exists()


def test_cli_unreachable_is_one_line(closed_url, tmp_path, capsys):
    argv = ["--count", "10", "--base-url", closed_url, "--max-retries", "0",
            "--out", str(tmp_path / "x.csv")]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: Bybit unavailable")


def test_cli_bad_url_is_one_line(tmp_path, capsys):
    assert main(["--count", "10", "--base-url", "nowhere", "--out", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot request nowhere/v5/market/kline" in err[0]


def test_cli_rejects_bad_flags(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--start", "yesterday"])
    assert exit_.value.code == 2 and "not an ISO date-time" in capsys.readouterr().err


# ---- holes and short answers -----------------------------------------------------------

@pytest.fixture
def own_market(markets):
    """A fake server on a copy of the 5m market, whose rows and clock a test may change."""
    from tests.sw.data.bybit_server import FakeBybit
    market = markets[("linear", "BTCUSDT", "5")]
    market = Market(list(market.rows), market.now_ms)
    server = FakeBybit({**markets, ("linear", "BTCUSDT", "5"): market})
    yield server, market
    server.close()


def test_a_candle_one_page_left_out_is_filled_on_the_next_run(own_market, recorder, tmp_path,
                                                               klines_5m):
    """D12"""
    server, _ = own_market
    client = BybitClient(server.url, timeout=1.0, progress=recorder.lines.append)
    server.fail("dropped_candle")
    first = cached_klines(client, tmp_path, "BTCUSDT", "5", count=300)
    assert len(first.gaps) == 1
    again = cached_klines(client, tmp_path, "BTCUSDT", "5", count=300)
    assert again.gaps == [] and np.array_equal(again.start_ms, klines_5m.start_ms[-301:-1])
    assert any("not confirmed yet: asking for it again" in line for line in recorder.lines)
    assert load(tmp_path / "BTCUSDT_linear_5m.csv").gaps == []
    assert not (tmp_path / "BTCUSDT_linear_5m.holes.json").exists()


def test_a_hole_is_trusted_after_two_empty_fetches_an_interval_apart(own_market, tmp_path):
    """D12: the same hole, asked for at the same server time, stays unconfirmed; asked for
    again one interval later, it is confirmed and no longer asked for"""
    server, market = own_market
    missing = market.rows.pop(-50)
    client = BybitClient(server.url, timeout=1.0)

    def run():
        before = len(server.requests)
        klines = cached_klines(client, tmp_path, "BTCUSDT", "5", count=300)
        assert [after - before for before, after in klines.gaps] == [2 * STEP_5M]
        asked = [q for q in server.requests[before:] if q.get("end") == str(int(missing[0]))]
        return len(asked)

    assert [run(), run()] == [0, 1]             # found, then asked again at the same time
    market.now_ms += STEP_5M
    assert [run(), run()] == [1, 0]             # one interval later: confirmed


def test_a_short_answer_is_named(own_market, tmp_path):
    """D16: an empty page ends the paging; what is missing is said, not passed over"""
    from sw.data.fetch import shortfall
    server, market = own_market
    client = BybitClient(server.url, timeout=1.0)
    server.fail("empty_page")
    klines = client.klines("BTCUSDT", "5", count=1200)
    assert len(klines) == 0
    assert shortfall(klines, None, None, 1200, client.server_ms) == \
        "0 of the 1200 candles asked for"
    first = int(market.rows[0][0])
    klines = client.klines("BTCUSDT", "5", start_ms=first - 10 * STEP_5M,
                           end_ms=first + 9 * STEP_5M)
    assert shortfall(klines, first - 10 * STEP_5M, first + 9 * STEP_5M, None,
                     client.server_ms) == "no candles for 2025-04-03 16:15 .. 2025-04-03 17:00"


def test_cli_timeout_is_a_total_deadline(bybit_server, tmp_path, capsys):
    """D2"""
    bybit_server.fail("trickle", "trickle")
    start = time.monotonic()
    code = main(["--count", "10", "--base-url", bybit_server.url, "--timeout", "0.5",
                 "--max-retries", "1", "--out", str(tmp_path / "x.csv")])
    assert code == 1 and time.monotonic() - start < 5
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: Bybit unavailable") and \
        "no complete answer within 0.5 s (gave up after 2 attempts)" in err[-1]


@pytest.mark.parametrize("argv, message", [
    (["--count", "3000", "--symbol", "BTCUSD", "--category", "inverse", "--interval", "1"],
     r"short answer: Bybit returned 2211 of the 3000 candles asked for \(BTCUSD inverse 1\)"),
    (["--start", "2025-04-03 16:00", "--end", "2025-04-03 18:00"],
     r"returned no candles for 2025-04-03 16:00 .. 2025-04-03 17:00 \(BTCUSDT linear 5\)"),
])
def test_cli_short_answers_are_errors_unless_allowed(bybit_server, tmp_path, capsys, argv,
                                                     message):
    """D16: --count above what exists, or a range starting before the history, is said"""
    out = tmp_path / "x.csv"
    argv = [*argv, "--base-url", bybit_server.url, "--out", str(out)]
    assert main(argv) == 1 and not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert re.search(message, err[-1]) and err[-1].endswith("--allow-short to write what came")
    assert main([*argv, "--allow-short"]) == 0 and out.exists()
    assert re.search(message, capsys.readouterr().err)


def test_cli_an_empty_page_is_not_a_success(bybit_server, tmp_path, capsys):
    """D16"""
    bybit_server.fail("empty_page")
    assert main(["--count", "1200", "--base-url", bybit_server.url,
                 "--out", str(tmp_path / "x.csv")]) == 1
    assert "0 of the 1200 candles asked for" in capsys.readouterr().err


def test_cli_an_answer_for_another_symbol_is_one_line(bybit_server, tmp_path, capsys):
    """D17"""
    bybit_server.fail("wrong_symbol")
    assert main(["--count", "10", "--base-url", bybit_server.url,
                 "--out", str(tmp_path / "x.csv")]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: BTCUSDT linear 5 page 1: the answer is for symbol 'ETHUSDT', not the "
        "'BTCUSDT' asked for")


@pytest.mark.parametrize("argv, message", [
    (["--max-retries", "-1"], "--max-retries must be 0 or more, got -1"),      # D24
    (["--timeout", "0"], "--timeout must be positive, got 0"),
])
def test_cli_bad_numbers_are_usage_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        main(["--count", "10", *argv])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_cli_an_unwritable_out_is_a_usage_error_before_any_request(bybit_server, tmp_path,
                                                                    capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["--count", "10", "--base-url", bybit_server.url,
                 "--out", str(blocker / "x.csv")]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err
    assert bybit_server.requests == []


def test_cli_cleans_what_a_killed_fetch_left(bybit_server, tmp_path):
    """D13: a fetch killed mid-write leaves a hidden temporary file; the next run removes it"""
    cache = tmp_path / "cache"
    cache.mkdir()
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    orphan = cache / f".BTCUSDT_linear_5m.csv.{int(done.stdout)}.x1y2z3.tmp"
    orphan.write_text("timestamp,open,high,low,close,vol")
    assert main(["--count", "10", "--base-url", bybit_server.url, "--cache-dir", str(cache),
                 "--out", str(tmp_path / "x.csv")]) == 0
    assert sorted(path.name for path in cache.iterdir()) == ["BTCUSDT_linear_5m.csv"]
