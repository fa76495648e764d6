"""Recorded kline files: a CSV or a verbatim Bybit v5 response, loaded into :class:`Klines`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from sw.data.bybit import parse_response
from sw.spec.klines import (
    FIELDS,
    INTERVALS_MIN,
    KlineError,
    Klines,
    from_rows,
    instrument,
    parse_time,
)


def load(path, category: str | None = None, symbol: str | None = None,
         interval: str | None = None) -> Klines:
    """Load a recorded kline file: a CSV (``timestamp,open,high,low,close,volume[,turnover]``)
    or a verbatim v5 kline response (JSON, newest first, in-progress candle dropped).

    Symbol, category and interval default to what the content or the file name says
    (``BTCUSDT_linear_5m.csv``, ``BTCUSD_inverse_1m_...json``), then to ``BTCUSDT``,
    ``linear`` and the spacing of the candles.
    """
    path = Path(path)
    if not path.is_file():
        raise KlineError(f"{path}: no such kline file")
    read = _json_rows if path.suffix == ".json" else _csv_rows
    rows, lines, said = read(path)
    guess = {**guess_from_name(path.name), **said}
    category = category or guess.get("category") or "linear"
    symbol = symbol or guess.get("symbol") or "BTCUSDT"
    interval = interval or guess.get("interval") or infer_interval(rows, path)
    return from_rows(rows, instrument(category, symbol), interval, source=path.name,
                     lines=lines)


def _json_rows(path: Path) -> tuple[list, None, dict]:
    """Rows of a saved v5 response, oldest first, without the newest (in-progress) candle;
    and the symbol the response names, if it does."""
    try:
        body = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise KlineError(f"{path}: not valid JSON ({error})") from None
    rows = parse_response(body, where=str(path))[:-1]  # in-progress candle: see data/README
    symbol = body["result"].get("symbol")
    return rows, None, {"symbol": symbol} if symbol else {}


def _csv_rows(path: Path) -> tuple[list, list, dict]:
    """Rows of a CSV with timestamps parsed (fields past the sixth dropped) and the file
    line of each row."""
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = [h.strip().lower() for h in next(reader, [])]
        wanted = ["timestamp", *FIELDS]
        if header[:6] != wanted:
            raise KlineError(f"{path}: header {header} does not start with {wanted}")
        rows, lines = [], []
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                start = parse_time(row[0])
            except ValueError:
                raise KlineError(f"{path} line {line}: bad timestamp {row[0]!r}") from None
            rows.append((start, *row[1:6]))
            lines.append(line)
    return rows, lines, {}


def guess_from_name(name: str) -> dict:
    parts = name.split(".")[0].split("_")
    guess = {}
    if parts and parts[0].isupper():
        guess["symbol"] = parts[0]
    if len(parts) > 1 and parts[1] in ("linear", "inverse", "spot"):
        guess["category"] = parts[1]
    for part in parts[2:3]:
        if part.endswith("m") and part[:-1] in INTERVALS_MIN:
            guess["interval"] = part[:-1]
    return guess


def infer_interval(rows, path) -> str:
    starts = sorted(int(r[0]) for r in rows)
    if len(starts) < 2:
        raise KlineError(f"{path}: cannot infer the interval from fewer than 2 candles")
    step = min(b - a for a, b in zip(starts, starts[1:]))
    for code, minutes in INTERVALS_MIN.items():
        if minutes * 60_000 == step:
            return code
    raise KlineError(f"{path}: candle spacing of {step} ms is not a Bybit interval")
