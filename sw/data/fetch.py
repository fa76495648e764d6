"""Bybit klines to a CSV, through an incremental on-disk cache (``python -m sw.fetch`` is its
command line).

The CSV has the layout of the recorded data (``timestamp,open,high,low,close,volume``,
UTC timestamps, prices and volumes printed exactly from ticks and lots) and is read back
by :func:`sw.data.load.load`. The cache is one such CSV per symbol, category and interval
(``<cache-dir>/BTCUSDT_linear_5m.csv``) holding closed candles without holes other than
Bybit's own gaps. It is replaced atomically (temporary file + ``os.replace``), grown by
fetching only what it lacks, and validated on every read: a corrupt file is reported and
fetched again.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np

from sw.data.bybit import BybitClient, BybitParamError
from sw.data.load import load
from sw.spec.files import atomic_write
from sw.spec.klines import (
    FIELDS,
    KlineError,
    Klines,
    from_rows,
    interval_ms,
    iso,
)


def csv_rows(klines: Klines):
    """``(start_ms, open, high, low, close, volume)`` rows with exact decimal strings."""
    units = [klines.instrument.tick] * 4 + [klines.instrument.lot]
    for start, *values in zip(klines.start_ms, *(getattr(klines, f) for f in FIELDS)):
        yield (int(start), *(format(Decimal(int(v)) * unit, "f") for v, unit in zip(values, units)))


def save_csv(klines: Klines, path) -> Path:
    """Write ``klines`` as a CSV :func:`sw.data.load.load` reads; atomic (never half a file)."""
    path = Path(path)
    with atomic_write(path) as handle:
        handle.write("timestamp," + ",".join(FIELDS) + "\n")
        for start, *values in csv_rows(klines):
            moment = datetime.fromtimestamp(start / 1000, tz=timezone.utc)
            handle.write(f"{moment.isoformat(sep=' ')},{','.join(values)}\n")
    return path


def merge(*parts: Klines) -> Klines:
    """Candles of all ``parts`` (same instrument and interval), oldest first, gaps recomputed."""
    parts = [part for part in parts if len(part)]
    rows = sorted({row[0]: row for part in parts for row in csv_rows(part)}.values())
    first = parts[0]
    return from_rows(rows, first.instrument, first.interval, source=first.source)


def between(klines: Klines, start_ms: int, end_ms: int | None) -> Klines:
    """The candles starting in ``[start_ms, end_ms]``, with the gaps inside that span."""
    lo = np.searchsorted(klines.start_ms, start_ms, side="left")
    hi = len(klines) if end_ms is None else np.searchsorted(klines.start_ms, end_ms, "right")
    return klines[lo:hi]


def cached_klines(client: BybitClient, cache_dir, symbol: str, interval: str,
                  category: str = "linear", start_ms: int | None = None,
                  end_ms: int | None = None, count: int | None = None) -> Klines:
    """Like :meth:`BybitClient.klines` (a range, or the latest ``count``), fetching only
    the candles the cache in ``cache_dir`` lacks, then saving the merged cache.

    The cache stays one span without holes of its own: a request beyond either end also
    fetches what lies between it and the cache.
    """
    if (count is None) == (start_ms is None) or count is not None and count < 1:
        raise BybitParamError("give either start_ms or a positive count")
    path = Path(cache_dir) / f"{symbol}_{category}_{interval}m.csv"
    cached = read_cache(path, symbol, interval, category, client.progress)
    step = interval_ms(interval)
    fetch = dict(symbol=symbol, interval=interval, category=category)
    if cached is None:
        merged = client.klines(**fetch, start_ms=start_ms, end_ms=end_ms, count=count)
    elif count is not None:
        newer = client.klines(**fetch, start_ms=int(cached.start_ms[-1]) + step)
        merged = merge(cached, newer)
        if len(merged) < count:
            older = client.klines(**fetch, end_ms=int(cached.start_ms[0]) - 1,
                                  count=count - len(merged))
            merged = merge(older, merged)
    else:
        first, last = int(cached.start_ms[0]), int(cached.start_ms[-1])
        parts = [cached]
        if start_ms < first:
            parts.append(client.klines(**fetch, start_ms=start_ms, end_ms=first - 1))
        if end_ms is None or end_ms >= last + step:
            parts.append(client.klines(**fetch, start_ms=last + step, end_ms=end_ms))
        merged = merge(*parts)
    if len(merged):
        save_csv(merged, path)
    if count is not None:
        return merged[-count:]
    return between(merged, start_ms, end_ms)


def read_cache(path: Path, symbol: str, interval: str, category: str, progress) -> Klines | None:
    """The cached candles, or ``None`` when there is no usable cache file (corrupt: said)."""
    if not path.is_file():
        return None
    try:
        cached = load(path, category=category, symbol=symbol, interval=interval)
    except KlineError as error:
        progress(f"cache {path} is corrupt ({error}); fetching it again")
        return None
    progress(f"cache {path}: {len(cached)} candles" +
             (f", {iso(cached.start_ms[0])} .. {iso(cached.start_ms[-1])}" if len(cached) else ""))
    return cached if len(cached) else None
