"""Labels: what the model learns to call. Every label has three classes, down / flat / up.

A label is a return ``r[t]`` that a position taken at the close of kline ``t`` is exposed
to, cut by two thresholds ``t1 <= t2``::

    down if r <= t1,   flat if t1 < r <= t2,   up if r > t2

:data:`LABELS`:

``terciles``
    ``r`` = the next candle's body ``(close[t+1] - open[t+1]) / open[t+1]``; ``t1, t2`` its
    terciles over the training split (balanced training classes, thresholds well inside
    one fee).
``sign-band``
    ``r`` = the next close-to-close return ``close[t+1] / close[t] - 1`` (what a position
    held one candle earns); flat within ``+-`` one maker fee, i.e. where the move would not
    even pay for a maker order.
``cost-aware``
    the same return; up or down only when it clears the taker round trip (``2 x``
    :data:`TAKER_FEE`), flat otherwise.
``cost-aware-6``
    the return over the next 6 candles ``close[t+6] / close[t] - 1``, cut at the taker
    round trip: a call that stays the same while a move builds, so the position it sets
    is held, and pays its fees, less often.

A label over ``h`` candles is unknown for the last ``h`` klines (class ``-1``).
:meth:`Label.past` is the same quantity ending at kline ``t``, known at its close: the
class of the current candle(s), which the persistence baseline calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sw.spec.klines import Klines

#: Bybit linear perpetual fees of the base tier, as fractions of the traded notional.
MAKER_FEE = 0.0002
TAKER_FEE = 0.00055


@dataclass(frozen=True)
class Label:
    """A return over ``horizon`` candles (``body``: the next candle's own body; ``close``:
    close to close) and how its thresholds are set: the training split's terciles
    (``band`` None) or a fixed ``+-band``."""
    name: str
    definition: str
    target: str = "close"
    horizon: int = 1
    band: float | None = None

    def future(self, klines: Klines) -> np.ndarray:
        """``r[t]``, NaN where the klines after ``t`` are missing."""
        h = self.horizon
        close = klines.close.astype(float)
        r = np.full(len(klines), np.nan)
        if len(klines) > h:
            if self.target == "body":
                o = klines.open[h:].astype(float)
                r[:-h] = (close[h:] - o) / o
            else:
                r[:-h] = close[h:] / close[:-h] - 1
        return r

    def past(self, klines: Klines) -> np.ndarray:
        """``r`` ending at kline ``t`` (``future`` shifted by the horizon), NaN at the start."""
        h = self.horizon
        return np.concatenate([np.full(h, np.nan), self.future(klines)[:-h]])[:len(klines)]

    def fit(self, r_train: np.ndarray) -> tuple[float, float]:
        """``(t1, t2)`` from the training split's returns."""
        if self.band is not None:
            return -self.band, self.band
        t1, t2 = np.quantile(r_train, [1 / 3, 2 / 3])
        return float(t1), float(t2)

    def to_json(self, thresholds=None) -> dict:
        described = {"name": self.name, "definition": self.definition,
                     "horizon_klines": self.horizon}
        if thresholds is not None:
            described["thresholds"] = [float(t) for t in thresholds]
        return described


def classes(r: np.ndarray, thresholds) -> np.ndarray:
    """Class per return (0 down, 1 flat, 2 up), ``-1`` where ``r`` is NaN."""
    t1, t2 = thresholds
    return np.where(np.isnan(r), -1, (r > t1).astype(int) + (r > t2))


LABELS = {label.name: label for label in (
    Label("terciles", "class of the next candle's (close - open) / open: down <= t1 < flat "
          "<= t2 < up, t1 and t2 the terciles over the training split", target="body"),
    Label("sign-band", "sign of the next close-to-close return, flat within +-1 maker fee "
          f"({MAKER_FEE:.2%})", band=MAKER_FEE),
    Label("cost-aware", "next close-to-close return: up above the taker round trip "
          f"(+{2 * TAKER_FEE:.3%}), down below -{2 * TAKER_FEE:.3%}, flat between",
          band=2 * TAKER_FEE),
    Label("cost-aware-6", "close-to-close return over the next 6 klines: up above the taker "
          f"round trip (+{2 * TAKER_FEE:.3%}), down below -{2 * TAKER_FEE:.3%}, flat between",
          horizon=6, band=2 * TAKER_FEE),
)}
DEFAULT_LABEL = "cost-aware-6"
