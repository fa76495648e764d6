"""Bybit v5 kline client over real HTTP: paging, validation, bounded retries.

``GET /v5/market/kline`` has no cursor, so :class:`BybitClient` pages with ``start`` / ``end``:
a time range is cut into windows of at most 1000 candles (each window comes back whole,
whatever end of it the server favours), the latest ``count`` candles are fetched backwards
with ``end`` = oldest start - 1. Pages are merged (identical duplicates dropped, conflicting
ones refused), the still-open newest candle (start + interval > the server's ``time``) is
dropped, and the result goes through :func:`sw.spec.klines.from_rows`, which checks every candle
and records gaps without filling them.

Every request ends by a total deadline (``timeout``: connecting, headers and body
together; :mod:`sw.data.http`), however slowly the server trickles its answer. Rate limits
(HTTP 403 / 429, retCode 10006), server trouble (HTTP 5xx, retCode 10000 / 10016),
requests past their deadline, dropped connections and malformed or truncated bodies are
retried with exponential backoff (or until ``X-Bapi-Limit-Reset-Timestamp`` when the
server sends it), then reported as :class:`BybitUnavailable`. Errors in the request
itself are not retried, nor are answers that cannot be right: rows for another symbol or
category. A page holding a candle that starts after the server's own time is retried
like a busy server (a skewed clock would otherwise hide the newest candles as "not closed
yet").
"""

from __future__ import annotations

import time

import requests

from sw.data import http
from sw.spec.klines import KlineError, from_rows, instrument, interval_ms, iso

DEFAULT_URL = "https://api.bybit.com"
KLINE_PATH = "/v5/market/kline"
PAGE_LIMIT = 1000
RETRIED_RETCODES = {10000: "server timeout", 10006: "too many visits", 10016: "server error"}
RETRIED_HTTP = {403: "IP rate limit", 429: "frequency protection"}


class BybitError(RuntimeError):
    """The API answered something that cannot be used; the message says what and where."""


class BybitParamError(BybitError):
    """Bybit refused a request parameter (retCode 10001); not retried."""


class BybitSymbolError(BybitParamError):
    """Bybit does not know the symbol in that category (retCode 10029); not retried."""


class BybitBusy(BybitError):
    """A transient retCode (10000, 10006, 10016); the client retries it."""


class BybitUnavailable(BybitError):
    """Bybit could not be reached or stayed busy through every retry."""


class BybitDataError(BybitError, KlineError):
    """A response with a bad envelope, row or order; names the candle and the rule."""


def parse_response(body, where: str = "response") -> list:
    """Validate a v5 kline envelope; return its rows oldest first as
    ``(start_ms, open, high, low, close, volume)`` (strings but ``start_ms``).

    The envelope needs an integer ``retCode`` (0, otherwise the matching error class is
    raised), a string ``retMsg``, an integer ``time`` and a ``result.list`` of rows of
    7 strings, newest first; identical neighbours (duplicates) are passed on.
    """
    if not isinstance(body, dict):
        raise BybitDataError(f"{where}: expected a JSON object, got {type(body).__name__}")
    code, message = body.get("retCode"), body.get("retMsg")
    if not isinstance(code, int) or not isinstance(message, str):
        raise BybitDataError(f"{where}: envelope needs an integer retCode and a string retMsg")
    if code != 0:
        raise _api_error(code, message, where)
    if not isinstance(body.get("time"), int):
        raise BybitDataError(f"{where}: envelope has no integer server time")
    result = body.get("result")
    rows = result.get("list") if isinstance(result, dict) else None
    if not isinstance(rows, list):
        raise BybitDataError(f"{where}: result.list is missing")
    out = []
    for n, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != 7:
            raise BybitDataError(
                f"{where}: result.list[{n}] has "
                f"{len(row) if isinstance(row, list) else 'no'} fields, expected 7")
        if not all(isinstance(value, str) for value in row) or not row[0].isdigit():
            raise BybitDataError(f"{where}: result.list[{n}] {row} is not 7 numeric strings")
        start = int(row[0])
        if out and start > out[-1][0]:
            raise BybitDataError(
                f"{where}: result.list[{n}] (start {iso(start)}) is newer than result.list"
                f"[{n - 1}] (start {iso(out[-1][0])}); Bybit sends rows newest first")
        out.append((start, *row[1:6]))
    return out[::-1]


def _api_error(code: int, message: str, where: str) -> BybitError:
    if code == 10001:
        return BybitParamError(f"{where}: Bybit refused a parameter: {message}")
    if code == 10029:
        return BybitSymbolError(f"{where}: retCode 10029: {message}")
    if code in RETRIED_RETCODES:
        return BybitBusy(f"retCode {code} ({RETRIED_RETCODES[code]}): {message}")
    return BybitError(f"{where}: retCode {code}: {message}")


class BybitClient:
    """Fetches klines from ``base_url`` with a :class:`requests.Session`.

    Each request ends within ``timeout`` seconds in all. ``progress`` receives one line
    per page and per retry. ``sleep`` and ``clock`` (seconds) are injectable so tests need
    not wait; a single wait never exceeds ``max_wait_s``. ``server_ms`` is the server time
    of the last page.
    """

    def __init__(self, base_url: str = DEFAULT_URL, session: requests.Session | None = None,
                 timeout: float = 10.0, max_retries: int = 5, backoff_s: float = 0.5,
                 progress=None, *, sleep=time.sleep, clock=time.time,
                 max_wait_s: float = 30.0):
        if max_retries < 0 or not timeout > 0:
            raise ValueError(f"max_retries {max_retries} must be 0 or more and timeout "
                             f"{timeout} positive")
        self.url = base_url.rstrip("/") + KLINE_PATH
        self.session = http.session(session)
        self.timeout = timeout
        self.server_ms = None
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.progress = progress or (lambda line: None)
        self.sleep = sleep
        self.clock = clock
        self.max_wait_s = max_wait_s

    def klines(self, symbol: str, interval: str, category: str = "linear",
               start_ms: int | None = None, end_ms: int | None = None,
               count: int | None = None):
        """Closed candles oldest first, as :class:`sw.spec.klines.Klines`.

        Either ``start_ms`` (with ``end_ms``, default: up to now), both inclusive candle
        starts, or ``count``: the latest ``count`` candles (ending at ``end_ms`` if given).
        """
        step = interval_ms(interval)
        query = _Query(self, symbol, interval, category, step)
        if count is not None:
            if start_ms is not None or count < 1:
                raise BybitParamError("give either start_ms or a positive count")
            query.latest(count, end_ms)
            rows = query.sorted_rows()[-count:]
        elif start_ms is not None:
            query.range(start_ms, end_ms)
            rows = [r for r in query.sorted_rows()
                    if start_ms <= r[0] and (end_ms is None or r[0] <= end_ms)]
        else:
            raise BybitParamError("give either start_ms or a positive count")
        source = f"bybit {category} {symbol} {interval}"
        try:
            return from_rows(rows, query.instrument, interval, source=source)
        except KlineError as error:
            raise BybitDataError(str(error)) from None

    def get_page(self, params: dict, where: str) -> tuple[list, int]:
        """One kline request with retries: (rows oldest first, server time in ms)."""
        reason, reset_ms = "", None
        for attempt in range(self.max_retries + 1):
            if attempt:
                delay = self._delay(attempt, reset_ms)
                self.progress(f"{where}: {reason}; retry {attempt}/{self.max_retries} "
                              f"in {delay:.2f} s")
                self.sleep(delay)
            reset_ms = None
            try:
                with http.deadline(self.timeout) as expired:
                    response = self.session.get(self.url, params=params,
                                                timeout=self.timeout)
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError, requests.Timeout) as error:
                late = expired.is_set() or isinstance(error, requests.Timeout)
                reason = (f"no complete answer within {self.timeout:g} s" if late
                          else f"connection failed ({_cause(error)})")
                continue
            except requests.RequestException as error:
                raise BybitError(f"{where}: cannot request {self.url}: {error}") from None
            if expired.is_set():   # cut short mid-answer: what arrived is not the answer
                reason = f"no complete answer within {self.timeout:g} s"
                continue
            reset_ms = response.headers.get("X-Bapi-Limit-Reset-Timestamp")
            status = response.status_code
            if status in RETRIED_HTTP or status >= 500:
                reason = f"HTTP {status} ({RETRIED_HTTP.get(status, 'server error')})"
                continue
            if status != 200:
                raise BybitError(f"{where}: HTTP {status} from {self.url}")
            try:
                body = response.json()
            except ValueError:
                reason = f"malformed JSON body ({len(response.content)} bytes)"
                continue
            try:
                rows = parse_response(body, where)
            except BybitBusy as busy:
                reason = str(busy)
                continue
            check_subject(body["result"], params, where)
            if rows and rows[-1][0] > body["time"]:
                reason = (f"the candle starting {iso(rows[-1][0])} starts after the server "
                          f"time {iso(body['time'])} (skewed clock)")
                continue
            return rows, body["time"]
        attempts = self.max_retries + 1
        raise BybitUnavailable(f"Bybit unavailable at {self.url}: {reason} (gave up after "
                               f"{attempts} attempt{'s' if attempts > 1 else ''})")

    def _delay(self, attempt: int, reset_ms) -> float:
        delay = self.backoff_s * 2 ** (attempt - 1)
        if reset_ms is not None and str(reset_ms).isdigit():
            delay = max(delay, int(reset_ms) / 1000 - self.clock())
        return min(delay, self.max_wait_s)


def check_subject(result: dict, params: dict, where: str) -> None:
    """An answer that names another symbol or category than asked for is refused."""
    for key in ("symbol", "category"):
        said = result.get(key)
        if said is not None and said != params[key]:
            raise BybitDataError(f"{where}: the answer is for {key} {said!r}, not the "
                                 f"{params[key]!r} asked for")


def _cause(error: Exception) -> str:
    """The innermost exception's class name, e.g. ``NameResolutionError``, for messages."""
    cause = error.args[0] if error.args and isinstance(error.args[0], Exception) else error
    return type(getattr(cause, "reason", None) or cause).__name__


class _Query:
    """The pages of one :meth:`BybitClient.klines` call, merged by candle start."""

    def __init__(self, client: BybitClient, symbol: str, interval: str, category: str,
                 step: int):
        self.client, self.step = client, step
        self.base = {"category": category, "symbol": symbol, "interval": interval}
        self.name = f"{symbol} {category} {interval}"
        self.candles: dict[int, tuple] = {}
        self.pages = 0
        self.instrument = None

    def range(self, start_ms: int, end_ms: int | None) -> None:
        window = PAGE_LIMIT * self.step
        page_start = -(-start_ms // self.step) * self.step
        total = "" if end_ms is None else f"/{max(-(-(end_ms + 1 - page_start) // window), 1)}"
        while True:
            page_end = page_start + window - 1
            if end_ms is not None:
                page_end = min(page_end, end_ms)
            now = self.fetch(total, start=page_start, end=page_end, limit=PAGE_LIMIT)[1]
            page_start += window
            if page_start > now or (end_ms is not None and page_start > end_ms):
                return

    def latest(self, count: int, end_ms: int | None) -> None:
        # with no end the newest row is the open candle: ask for one more
        extra = 1 if end_ms is None else 0
        while len(self.candles) < count:
            limit = min(count - len(self.candles) + extra, PAGE_LIMIT)
            params = {"limit": limit} if end_ms is None else {"end": end_ms, "limit": limit}
            rows = self.fetch("", **params)[0]
            if not rows:
                return
            if end_ms is not None and rows[0][0] > end_ms:
                raise BybitDataError(f"{self.name}: asked for candles up to {iso(end_ms)}, "
                                     f"got one starting {iso(rows[0][0])}")
            end_ms, extra = rows[0][0] - 1, 0

    def fetch(self, total: str, **params) -> tuple[list, int]:
        self.pages += 1
        where = f"{self.name} page {self.pages}{total}"
        try:
            rows, now = self.client.get_page({**self.base, **params}, where)
        except BybitSymbolError as error:
            raise BybitSymbolError(f"Bybit does not know symbol {self.base['symbol']!r} in "
                                   f"category {self.base['category']!r} ({error})") from None
        if self.instrument is None:
            # looked up after Bybit has judged the symbol, whose own answer is clearer
            try:
                self.instrument = instrument(self.base["category"], self.base["symbol"])
            except KlineError as error:
                raise BybitParamError(str(error)) from None
        self.client.server_ms = now
        closed = [row for row in rows if row[0] + self.step <= now]
        for row in closed:
            known = self.candles.setdefault(row[0], row)
            if known != row:
                raise BybitDataError(f"{where}: two different candles start at {iso(row[0])}: "
                                     f"{list(known[1:])} and {list(row[1:])}")
        span = f"{iso(closed[0][0])} .. {iso(closed[-1][0])}" if closed else "no closed candles"
        self.client.progress(f"{where}: {len(closed)} candles, {span} "
                             f"({len(self.candles)} so far)")
        return rows, now

    def sorted_rows(self) -> list:
        return [self.candles[start] for start in sorted(self.candles)]
