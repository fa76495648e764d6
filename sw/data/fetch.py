"""Bybit klines to a CSV, through an incremental on-disk cache (``python -m sw.fetch`` is its
command line).

The CSV has the layout of the recorded data (``timestamp,open,high,low,close,volume``,
UTC timestamps, prices and volumes printed exactly from ticks and lots) and is read back
by :func:`sw.data.load.load`. The cache is one such CSV per symbol, category and interval
(``<cache-dir>/BTCUSDT_linear_5m.csv``) holding closed candles without holes other than
Bybit's own gaps. It is replaced atomically (temporary file + ``os.replace``), grown by
fetching only what it lacks, and validated on every read: a corrupt file is reported and
fetched again. A hole in it is not trusted until two fetches an interval apart found it
empty (:class:`Holes`, ``<cache-dir>/BTCUSDT_linear_5m.holes.json``); until then every
run asks for it again.
"""

from __future__ import annotations

import json
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
    fetches what lies between it and the cache. A hole inside it (a gap between two
    cached candles) is asked for again on every run until it is confirmed
    (:class:`Holes`), so a candle one page left out is filled once Bybit has it.
    """
    if (count is None) == (start_ms is None) or count is not None and count < 1:
        raise BybitParamError("give either start_ms or a positive count")
    path = Path(cache_dir) / f"{symbol}_{category}_{interval}m.csv"
    cached = read_cache(path, symbol, interval, category, client.progress)
    step = interval_ms(interval)
    holes = Holes.read(path, cached, step)
    spans = []   # (first, last candle start asked for, server time of the answer)

    def fetch(start_ms=None, end_ms=None, count=None) -> Klines:
        part = client.klines(symbol, interval, category, start_ms, end_ms, count)
        first = start_ms if start_ms is not None else \
            int(part.start_ms[0]) if len(part) else None
        last = end_ms if end_ms is not None else int(part.start_ms[-1]) if len(part) else None
        if first is not None and last is not None:
            spans.append((first, last, client.server_ms))
        return part

    if cached is None:
        parts = [fetch(start_ms=start_ms, end_ms=end_ms, count=count)]
    elif count is not None:
        parts = [cached, fetch(start_ms=int(cached.start_ms[-1]) + step)]
        have = len(merge(*parts))
        if have < count:
            parts.append(fetch(end_ms=int(cached.start_ms[0]) - 1, count=count - have))
    else:
        first, last = int(cached.start_ms[0]), int(cached.start_ms[-1])
        parts = [cached]
        if start_ms < first:
            parts.append(fetch(start_ms=start_ms, end_ms=first - 1))
        if end_ms is None or end_ms >= last + step:
            parts.append(fetch(start_ms=last + step, end_ms=end_ms))
    merged = merge(*parts)
    asked = [hole for hole in merged.gaps if not holes.confirmed(hole)
             and not any(covers(span, hole, step) for span in spans)]
    for before, after in asked:
        client.progress(f"hole {iso(before + step)} .. {iso(after - step)} in the cache is "
                        "not confirmed yet: asking for it again")
        parts.append(fetch(start_ms=before + step, end_ms=after - step))
    merged = merge(*parts)
    if len(merged):
        save_csv(merged, path)
        holes.observe(merged.gaps, spans).write(path)
    if count is not None:
        return merged[-count:]
    return between(merged, start_ms, end_ms)


def covers(span: tuple, hole: tuple, step: int) -> bool:
    """Whether a fetch of ``span`` asked for every candle missing in ``hole``."""
    first, last, _ = span
    before, after = hole
    return first <= before + step and after - step <= last


class Holes:
    """When each hole of the cache was found empty: ``{(before, after): [first, last]}``,
    the server times (ms) of the first and the latest fetch that asked for the hole's
    candles and got none, kept in ``<cache>.holes.json`` beside the cache.

    A hole is confirmed once two such fetches, both made after the hole's last interval
    closed, lie at least one interval apart: then Bybit has had the time to fill it. A
    record whose hole is not in the cache (filled, or the cache was replaced) is dropped
    when read, so the two files cannot disagree in a way that trusts a hole.
    """

    def __init__(self, seen: dict, step: int):
        self.seen, self.step = seen, step

    @classmethod
    def read(cls, cache: Path, cached: Klines | None, step: int) -> "Holes":
        seen = {}
        try:
            records = json.loads(holes_path(cache).read_text())["holes"]
            gaps = set(cached.gaps if cached is not None else [])
            seen = {(before, after): [first, last] for before, after, first, last in records
                    if (before, after) in gaps}
        except (OSError, ValueError, KeyError, TypeError):
            pass   # no record, or a broken one: every hole is asked for again
        return cls(seen, step)

    def confirmed(self, hole: tuple) -> bool:
        first, last = self.seen.get(hole, (None, None))
        return first is not None and first >= hole[1] and last - first >= self.step

    def observe(self, gaps: list, spans: list) -> "Holes":
        """The record after this run: ``gaps`` of the merged cache, each with the times of
        the fetches (``spans``) that asked for its candles and found none."""
        seen = {}
        for hole in gaps:
            times = [*self.seen.get(hole, ()),
                     *(now for *span, now in spans if covers((*span, now), hole, self.step)
                       and now is not None and now >= hole[1])]
            if times:
                seen[hole] = [min(times), max(times)]
        return Holes(seen, self.step)

    def write(self, cache: Path) -> None:
        if not self.seen:
            holes_path(cache).unlink(missing_ok=True)
            return
        with atomic_write(holes_path(cache)) as handle:
            json.dump({"holes": [[*hole, *times] for hole, times in sorted(self.seen.items())]},
                      handle)


def holes_path(cache: Path) -> Path:
    return cache.with_name(cache.stem + ".holes.json")


def shortfall(klines: Klines, start_ms: int | None, end_ms: int | None, count: int | None,
              server_ms: int | None) -> str | None:
    """What of the request Bybit did not return, or ``None``: fewer than ``count``
    candles, or a range whose first or last candles are missing (inner gaps are reported
    as gaps, not as a short answer)."""
    if count is not None:
        return None if len(klines) >= count else \
            f"{len(klines)} of the {count} candles asked for"
    step = interval_ms(klines.interval)
    first = -(-start_ms // step) * step
    last = end_ms // step * step if end_ms is not None else \
        server_ms // step * step - step if server_ms is not None else None
    if not len(klines):
        return f"no candles from {iso(first)}"
    missing = []
    if klines.start_ms[0] > first:
        missing.append(f"{iso(first)} .. {iso(int(klines.start_ms[0]) - step)}")
    if last is not None and klines.start_ms[-1] < last:
        missing.append(f"{iso(int(klines.start_ms[-1]) + step)} .. {iso(last)}")
    return f"no candles for {' and '.join(missing)}" if missing else None


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
