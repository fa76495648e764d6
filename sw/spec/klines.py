"""Klines as exact integers: prices in ticks, volume in lots.

Bybit sends decimal strings. They are parsed with :class:`decimal.Decimal` (exact, no binary
float on the way in) and divided by the instrument's tick or lot; a value off that grid, not
positive where it must be, or wider than the hardware word is a :class:`KlineError` naming
the candle and the rule it breaks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

import numpy as np

#: Width of each kline field in hardware (open, high, low, close, volume).
WORD_BITS = 32
FIELDS = ("open", "high", "low", "close", "volume")
INTERVALS_MIN = {"1": 1, "3": 3, "5": 5, "15": 15, "30": 30, "60": 60, "120": 120,
                 "240": 240, "360": 360, "720": 720, "D": 1440, "W": 10080}


class KlineError(ValueError):
    """A kline, a kline file or an API row that breaks a rule; the message names both."""


@dataclass(frozen=True)
class Instrument:
    """Bybit symbol with the grid its prices (tick) and volumes (lot) live on."""
    category: str
    symbol: str
    tick: Decimal
    lot: Decimal


INSTRUMENTS = {
    ("linear", "BTCUSDT"): Instrument("linear", "BTCUSDT", Decimal("0.1"), Decimal("0.001")),
    ("linear", "ETHUSDT"): Instrument("linear", "ETHUSDT", Decimal("0.01"), Decimal("0.01")),
    # inverse: volume is counted in USD contracts
    ("inverse", "BTCUSD"): Instrument("inverse", "BTCUSD", Decimal("0.1"), Decimal("1")),
}


def instrument(category: str, symbol: str) -> Instrument:
    try:
        return INSTRUMENTS[(category, symbol)]
    except KeyError:
        known = ", ".join(f"{c}/{s}" for c, s in INSTRUMENTS)
        raise KlineError(f"no tick/lot known for {category}/{symbol}; known: {known}") from None


def interval_ms(interval: str) -> int:
    if interval not in INTERVALS_MIN:
        raise KlineError(f"interval {interval!r} is not one of {', '.join(INTERVALS_MIN)}")
    return INTERVALS_MIN[interval] * 60_000


def to_units(text: str, unit: Decimal, what: str) -> int:
    """Exact decimal string -> integer count of ``unit`` (ticks or lots)."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise KlineError(f"{what}: {text!r} is not a decimal number") from None
    if not value.is_finite():
        raise KlineError(f"{what}: {text!r} is not a finite number")
    units = value / unit
    if units != units.to_integral_value():
        raise KlineError(f"{what}: {text} is not a multiple of {unit}")
    return int(units)


@dataclass(frozen=True)
class Klines:
    """Candles oldest first, as integer arrays of equal length.

    ``start_ms`` is the candle start (Unix ms); ``open``..``close`` are in ticks and
    ``volume`` in lots of ``instrument``; ``interval`` is Bybit's interval code.
    ``synthetic`` marks generated data, which every report must say.
    """
    instrument: Instrument
    interval: str
    start_ms: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    synthetic: bool = False
    source: str = ""
    gaps: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.start_ms)

    def __getitem__(self, index: slice) -> "Klines":
        if not isinstance(index, slice):
            raise TypeError("Klines are sliced, not indexed; use .rows() for tuples")
        arrays = {name: getattr(self, name)[index] for name in ("start_ms",) + FIELDS}
        starts = set(arrays["start_ms"].tolist())
        gaps = [gap for gap in self.gaps if gap[0] in starts and gap[1] in starts]
        return Klines(self.instrument, self.interval, **arrays, synthetic=self.synthetic,
                      source=self.source, gaps=gaps)

    def matrix(self) -> np.ndarray:
        """``[n, 5]`` int64 array of (open, high, low, close, volume)."""
        return np.stack([getattr(self, name) for name in FIELDS], axis=1)

    def rows(self):
        """(open, high, low, close, volume) tuples of Python ints, for the hardware benches."""
        return [tuple(int(v) for v in row) for row in self.matrix()]


def from_rows(rows, inst: Instrument, interval: str, *, source: str = "",
              synthetic: bool = False, lines=None) -> Klines:
    """Validate ``(start_ms, open, high, low, close, volume)`` string/int rows, oldest first.

    Rules: six fields or more, prices positive and on the tick grid, volume non-negative
    and on the lot grid, every field below 2**WORD_BITS, low <= open, close <= high, starts
    on the interval grid and strictly increasing. Gaps in time are recorded in ``gaps``,
    never filled. ``lines`` (the file line of each row) names a bad row by its line, else by
    its index.
    """
    step = interval_ms(interval)
    out = {name: [] for name in ("start_ms",) + FIELDS}
    gaps = []
    for n, row in enumerate(rows):
        where = f"candle {n}" if lines is None else f"line {lines[n]}"
        if len(row) < 6:
            raise KlineError(f"{source} {where}: {len(row)} fields, expected 6 or more "
                             "(start, open, high, low, close, volume)")
        start = int(row[0])
        at = f"{source} {where} (start {iso(start)})"
        prices = [to_units(str(v), inst.tick, f"{at} {name}")
                  for v, name in zip(row[1:5], FIELDS)]
        volume = to_units(str(row[5]), inst.lot, f"{at} volume")
        check_candle(at, start, step, *prices, volume)
        if out["start_ms"]:
            previous = out["start_ms"][-1]
            if start <= previous:
                what = "a duplicate of" if start == previous else "older than"
                raise KlineError(f"{at}: not after the previous candle, {what} the one "
                                 f"starting {iso(previous)}; rows must be oldest first "
                                 "without duplicates")
            if start - previous != step:
                gaps.append((previous, start))
        for name, value in zip(out, [start, *prices, volume]):
            out[name].append(value)
    arrays = {name: np.array(values, dtype=np.int64) for name, values in out.items()}
    return Klines(inst, interval, **arrays, synthetic=synthetic, source=source, gaps=gaps)


def check_candle(at: str, start: int, step: int, open_, high, low, close, volume) -> None:
    if start % step:
        raise KlineError(f"{at}: start is not on the {step // 60_000}-minute grid")
    if min(open_, high, low, close) <= 0:
        raise KlineError(f"{at}: prices must be positive")
    if volume < 0:
        raise KlineError(f"{at}: volume must not be negative")
    if max(open_, high, low, close, volume) >= 2 ** WORD_BITS:
        raise KlineError(f"{at}: a field does not fit the {WORD_BITS}-bit hardware word")
    if not (low <= open_ <= high and low <= close <= high):
        raise KlineError(f"{at}: needs low <= open, close <= high "
                         f"(open {open_}, high {high}, low {low}, close {close} ticks)")


def iso(ms: int) -> str:
    """``2025-04-03 17:05`` (UTC), with seconds when the time is not on a whole minute."""
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M" + (":%S" if ms % 60_000 else ""))


def parse_time(text: str) -> int:
    """CSV timestamp (ISO datetime, UTC when no zone is given, or Unix ms) -> Unix ms."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp()) * 1000
