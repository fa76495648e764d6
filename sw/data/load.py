"""Recorded kline files: a CSV or a verbatim Bybit v5 response, loaded into :class:`Klines`."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

from sw.data.bybit import BybitDataError, BybitError, parse_response
from sw.spec.files import NotText, read_text
from sw.spec.klines import (
    FIELDS,
    INTERVALS_MIN,
    KlineError,
    Klines,
    from_rows,
    instrument,
    parse_time,
)

CATEGORIES = ("linear", "inverse", "spot")


def load(path, category: str | None = None, symbol: str | None = None,
         interval: str | None = None) -> Klines:
    """Load a recorded kline file: a CSV (``timestamp,open,high,low,close,volume[,turnover]``)
    or a verbatim v5 kline response (JSON, newest first, in-progress candle dropped).

    Symbol, category and interval default to what the content says (a v5 response names
    its symbol and category), then to the file name (``BTCUSDT_linear_5m.csv``,
    ``BTCUSD_inverse_1m_...json``), then to ``BTCUSDT``, ``linear`` and the most common
    spacing of the candles. Every problem is a :class:`KlineError` naming the file and,
    for a CSV, the line.
    """
    path = Path(path)
    if not path.is_file():
        raise KlineError(f"{path}: no such kline file")
    try:
        text = read_text(path)
    except NotText as error:
        raise KlineError(str(error)) from None
    read = _json_rows if path.suffix == ".json" else _csv_rows
    rows, lines, said = read(path, text)
    guess = {**guess_from_name(path.name), **said}
    category = category or guess.get("category") or "linear"
    symbol = symbol or guess.get("symbol") or "BTCUSDT"
    interval = interval or guess.get("interval") or infer_interval(rows, path)
    try:
        inst = instrument(category, symbol)
    except KlineError as error:
        raise KlineError(f"{path}: {error}") from None
    return from_rows(rows, inst, interval, source=path.name, lines=lines)


def _json_rows(path: Path, text: str) -> tuple[list, None, dict]:
    """Rows of a saved v5 response, oldest first, without the newest (in-progress) candle;
    and the symbol and category the response names, if it does."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError as error:
        raise KlineError(f"{path}: not valid JSON ({error})") from None
    try:
        rows = parse_response(body, where=str(path))[:-1]  # in-progress: see data/README
    except BybitDataError:
        raise
    except BybitError:   # the envelope is valid: an integer retCode, a string retMsg
        raise KlineError(f"{path}: a recorded Bybit error answer (retCode {body['retCode']}: "
                         f"{body['retMsg']}), not klines") from None
    said = {key: body["result"].get(key) for key in ("symbol", "category")}
    if said["category"] is not None and said["category"] not in CATEGORIES:
        raise KlineError(f"{path}: result.category {said['category']!r} is not one of "
                         f"{', '.join(CATEGORIES)}")
    if said["symbol"] is not None and not isinstance(said["symbol"], str):
        raise KlineError(f"{path}: result.symbol {said['symbol']!r} is not a string")
    return rows, None, {key: value for key, value in said.items() if value}


def _csv_rows(path: Path, text: str) -> tuple[list, list, dict]:
    """Rows of a CSV with timestamps parsed (fields past the sixth dropped) and the file
    line of each row."""
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, lines = [], []
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        wanted = ["timestamp", *FIELDS]
        if header[:6] != wanted:
            raise KlineError(f"{path}: header {header} does not start with {wanted}")
        for row in reader:
            line = reader.line_num
            if not row:
                continue
            try:
                start = parse_time(row[0])
            except ValueError:
                raise KlineError(f"{path} line {line}: bad timestamp {row[0]!r}") from None
            rows.append((start, *row[1:6]))
            lines.append(line)
    except csv.Error as error:
        raise KlineError(f"{path} line {reader.line_num}: {error}") from None
    return rows, lines, {}


def guess_from_name(name: str) -> dict:
    parts = name.split(".")[0].split("_")
    guess = {}
    if parts and parts[0].isupper():
        guess["symbol"] = parts[0]
    if len(parts) > 1 and parts[1] in CATEGORIES:
        guess["category"] = parts[1]
    for part in parts[2:3]:
        if part.endswith("m") and part[:-1] in INTERVALS_MIN:
            guess["interval"] = part[:-1]
    return guess


def infer_interval(rows, path) -> str:
    """The Bybit interval of the most common spacing between neighbouring candles (a
    duplicate or off-grid row is then :func:`sw.spec.klines.from_rows`' error, by line)."""
    starts = [int(r[0]) for r in rows]
    spacings = Counter(b - a for a, b in zip(starts, starts[1:]) if b > a)
    if not spacings:
        raise KlineError(f"{path}: cannot infer the interval from {len(starts)} candle"
                         f"{'s' if len(starts) != 1 else ''} without distinct times")
    step = spacings.most_common(1)[0][0]
    for code, minutes in INTERVALS_MIN.items():
        if minutes * 60_000 == step:
            return code
    raise KlineError(f"{path}: the most common candle spacing, {step / 60_000:g} minutes, "
                     "is not a Bybit interval")
