"""A local Bybit v5 kline server: real HTTP on 127.0.0.1, recorded data, injectable faults.

It serves ``GET /v5/market/kline`` like Bybit: ``category``, ``symbol``, ``interval``
required, ``start`` / ``end`` (ms, inclusive candle starts), ``limit`` 1..1000 (default
200), rows of 7 strings newest first, the server ``time`` in the envelope and the
``X-Bapi-Limit*`` headers. With ``end`` (or neither bound) a page holds the newest
``limit`` candles up to ``end``; with only ``start`` the oldest ``limit`` from ``start``.

Markets replay ../shared/data/bybit: BTCUSD inverse 1m from the recorded responses (the
newest snapshot's ``list[0]`` stays the in-progress candle) and BTCUSDT linear 5m from the
CSV, whose last candle is served as still open. Each queued fault spoils one request:
HTTP and retCode errors, bodies malformed, truncated, dropped, late (``timeout``) or
trickled a byte at a time (``trickle``), rows out of order, duplicated, conflicting or
invalid, a candle left out (``dropped_candle``), an empty page, an answer for another
symbol, or a server time ``SKEW_MS`` behind the candles (``skewed_clock``).
"""

from __future__ import annotations

import csv
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

from sw.spec.klines import INTERVALS_MIN, parse_time

FAULTS = ("http429", "http403", "http500", "retcode10000", "retcode10006", "retcode10016",
          "retcode10001", "retcode10029", "malformed", "truncated", "field_count", "unsorted",
          "duplicate", "conflict", "dropped_candle", "bad_row", "drop", "timeout", "trickle",
          "empty_page", "wrong_symbol", "skewed_clock")
RETRIED_RETCODES = {10000: "Server Timeout", 10006: "Too many visits!", 10016: "Server error"}
RATE_LIMIT = 600
RESET_AFTER_MS = 2000      # how far ahead X-Bapi-Limit-Reset-Timestamp points
TIMEOUT_FAULT_S = 2.5      # the "timeout" fault answers this late; test clients wait 1 s
TRICKLE_S = 0.05           # the "trickle" fault sends a byte this often, headers included
SKEW_MS = 6 * 3_600_000    # how far the "skewed_clock" fault's server time lags


@dataclass
class Market:
    """Candles as API rows (7 strings) oldest first, and the server time in ms."""
    rows: list
    now_ms: int


def recorded_markets(data_dir) -> dict:
    """``{(category, symbol, interval): Market}`` from the recorded data."""
    snapshots = [json.loads(p.read_text()) for p in sorted((data_dir / "responses").glob("*.json"))]
    newest = max(snapshots, key=lambda body: body["time"])
    candles = {}
    for body in snapshots:
        for row in body["result"]["list"][1:]:
            candles[int(row[0])] = row
    open_candle = newest["result"]["list"][0]
    candles[int(open_candle[0])] = open_candle
    inverse = Market([candles[start] for start in sorted(candles)], newest["time"])

    with (data_dir / "BTCUSDT_linear_5m.csv").open(newline="") as handle:
        rows = [api_row(parse_time(r[0]), *r[1:6]) for r in list(csv.reader(handle))[1:]]
    linear = Market(rows, int(rows[-1][0]) + 150_000)
    return {("inverse", "BTCUSD", "1"): inverse, ("linear", "BTCUSDT", "5"): linear}


def api_row(start_ms: int, open_, high, low, close, volume) -> list:
    """A row as Bybit sends it, turnover (volume * close) included."""
    turnover = (Decimal(volume) * Decimal(close)).quantize(Decimal("0.0001"))
    return [str(start_ms), open_, high, low, close, volume, str(turnover)]


class FakeBybit:
    """The server; ``fail(*faults)`` queues faults, ``requests`` logs every query."""

    def __init__(self, markets: dict):
        self.markets = markets
        self.faults = deque()
        self.requests = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.bybit = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def fail(self, *faults: str) -> None:
        unknown = set(faults) - set(FAULTS)
        assert not unknown, f"unknown faults {unknown}"
        with self.lock:
            self.faults.extend(faults)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def next_fault(self, query: dict) -> str | None:
        """Log the request and take the fault, if any, that spoils it."""
        with self.lock:
            self.requests.append(query)
            return self.faults.popleft() if self.faults else None

    def answer(self, query: dict, fault: str | None) -> tuple[int, dict, object]:
        """(HTTP status, extra headers, JSON body or bytes) for one request."""
        reset = {"X-Bapi-Limit-Reset-Timestamp": str(int(time.time() * 1000) + RESET_AFTER_MS)}
        if fault in ("http429", "http403", "http500"):
            return int(fault[4:]), reset if fault == "http403" else {}, b"access denied"
        if fault and fault.startswith("retcode"):
            code = int(fault[7:])
            message = {10001: "params error: interval invalid", 10029: "symbol invalid",
                       **RETRIED_RETCODES}[code]
            return 200, reset, envelope(code, message, {}, int(time.time() * 1000))
        if fault == "malformed":
            return 200, {}, b'{"retCode": 0, "retMsg": "OK", "result": {"list": [[,]]}'
        code, message, result, now = self.kline_page(query)
        if result.get("list"):
            spoil(result["list"], fault)
        if fault == "empty_page" and "list" in result:
            result["list"] = []
        if fault == "wrong_symbol" and "symbol" in result:
            result["symbol"] = "ETHUSDT"
        if fault == "skewed_clock":
            now -= SKEW_MS
        return 200, {}, envelope(code, message, result, now)

    def kline_page(self, query: dict):
        for name in ("category", "symbol", "interval"):
            if not query.get(name):
                return 10001, f"params error: {name} is required", {}, int(time.time() * 1000)
        if query["category"] not in ("spot", "linear", "inverse"):
            return 10001, "params error: category invalid", {}, int(time.time() * 1000)
        if query["interval"] not in INTERVALS_MIN:
            return 10001, "params error: interval invalid", {}, int(time.time() * 1000)
        limit = query.get("limit", "200")
        if not limit.isdigit() or not 1 <= int(limit) <= 1000:
            return 10001, "params error: limit invalid", {}, int(time.time() * 1000)
        market = self.markets.get((query["category"], query["symbol"], query["interval"]))
        if market is None:
            return 10029, "symbol invalid", {}, int(time.time() * 1000)
        start, end = (int(query[k]) if k in query else None for k in ("start", "end"))
        rows = [row for row in market.rows if int(row[0]) <= market.now_ms
                and (start is None or int(row[0]) >= start) and (end is None or int(row[0]) <= end)]
        rows = rows[:int(limit)] if start is not None and end is None else rows[-int(limit):]
        result = {"symbol": query["symbol"], "category": query["category"],
                  "list": [list(row) for row in reversed(rows)]}
        return 0, "OK", result, market.now_ms


def envelope(code: int, message: str, result: dict, now_ms: int) -> dict:
    return {"retCode": code, "retMsg": message, "result": result, "retExtInfo": {},
            "time": now_ms}


def spoil(rows: list, fault: str | None) -> None:
    """Apply a row-level fault to a page (newest first) in place."""
    middle = min(1, len(rows) - 1)
    if fault == "field_count":
        rows[middle].pop()
    elif fault == "unsorted" and len(rows) > 2:
        rows[1], rows[2] = rows[2], rows[1]
    elif fault == "duplicate":
        rows.insert(middle, list(rows[middle]))
    elif fault == "conflict":
        rows.insert(middle, [*rows[middle][:4], rows[middle][3], *rows[middle][5:]])
    elif fault == "dropped_candle" and len(rows) > 2:
        del rows[2]
    elif fault == "bad_row":
        row = rows[middle]
        row[3] = str(Decimal(row[1]) + Decimal("1000"))   # low above open


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        bybit = self.server.bybit
        url = urlsplit(self.path)
        if url.path != "/v5/market/kline":
            return self.reply(404, {}, b"not found")
        query = dict(parse_qsl(url.query))
        fault = bybit.next_fault(query)
        if fault == "drop":
            self.close_connection = True
            return None
        if fault == "timeout":
            time.sleep(TIMEOUT_FAULT_S)
        status, headers, body = bybit.answer(query, fault)
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        if fault == "trickle":
            return self.trickle(status, payload)
        cut = len(payload) // 2 if fault == "truncated" else None
        self.reply(status, headers, payload, cut)

    def trickle(self, status: int, payload: bytes):
        """The whole answer, status line and headers included, a byte every TRICKLE_S."""
        head = (f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n").encode()
        for byte in head + payload:
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                break   # the client gave up
            time.sleep(TRICKLE_S)
        self.close_connection = True

    def reply(self, status: int, headers: dict, payload: bytes, cut: int | None = None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Bapi-Limit", str(RATE_LIMIT))
        self.send_header("X-Bapi-Limit-Status", str(RATE_LIMIT - 1))
        headers.setdefault("X-Bapi-Limit-Reset-Timestamp", str(int(time.time() * 1000)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(payload[:cut])
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (timeout fault)
        if cut is not None:
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def markets(data_dir):
    return recorded_markets(data_dir)


@pytest.fixture
def bybit_server(markets):
    server = FakeBybit(markets)
    yield server
    server.close()
