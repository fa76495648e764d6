"""The trading arithmetic: positions from signals, gross and net returns, and their metrics.

Position ``p[t]`` in {-1, 0, +1} (signal down / flat / up) is set at the close of kline
``t`` and earns ``p[t] * ret[t]`` with ``ret[t] = close[t+1] / close[t] - 1``. Changing the
position costs ``cost * |p[t] - p[t-1]|`` of the equity (``cost`` = fee + slippage; a flip
pays twice, entering pays from ``p[-1] = 0``, and the final exit ``|p[last]|`` pays at the
last kline). Returns compound: one kline's net factor is
``(1 - cost * |p[t] - p[t-1]|) * (1 + p[t] * ret[t])``, times ``(1 - cost * |p[last]|)``
at the last kline. A short held over several klines is rebalanced to the equity at each
close (the same factor as a long, with the sign turned). Funding is ignored.

Everything works on a batch of strategies at once: positions ``[k, n]`` over one market
``[n]`` (the random baseline's draws are such a batch).

Days: the return ``ret[t]`` is earned over candle ``t + 1``, so it belongs to the UTC day
candle ``t + 1`` starts in. Sharpe is ``mean / std * sqrt(365)`` of the daily compounded
net returns (risk-free rate 0, sample standard deviation), None when it is undefined
(fewer than two days, or no variation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sw.spec.klines import Klines

DAY_MS = 86_400_000
DAYS_PER_YEAR = 365


@dataclass
class Market:
    """What positions are taken on: ``ret[t] = close[t+1] / close[t] - 1`` and the UTC
    ``day`` (days since 1970) of candle ``t + 1``, for klines ``index`` of ``klines``."""
    ret: np.ndarray
    day: np.ndarray

    @classmethod
    def of(cls, klines: Klines, index: np.ndarray) -> "Market":
        index = np.asarray(index)
        if len(index) and index.max() + 1 >= len(klines):
            raise ValueError("the last kline has no next close to trade on")
        close = klines.close.astype(float)
        return cls(close[index + 1] / close[index] - 1, klines.start_ms[index + 1] // DAY_MS)

    def __len__(self) -> int:
        return len(self.ret)

    def __getitem__(self, part: slice) -> "Market":
        return Market(self.ret[part], self.day[part])

    @staticmethod
    def join(markets) -> "Market":
        return Market(np.concatenate([m.ret for m in markets]),
                      np.concatenate([m.day for m in markets]))


def positions(signal: np.ndarray) -> np.ndarray:
    """Signal class (0 down, 1 flat, 2 up) -> position -1, 0, +1."""
    return np.asarray(signal, dtype=np.int64) - 1


@dataclass
class Book:
    """Positions ``[k, n]`` on a market: per kline, the gross return and the turnover of the
    trades made at its close (``exits`` is the final exit, at the last kline, per row)."""
    p: np.ndarray
    market: Market
    changes: np.ndarray
    exits: np.ndarray

    @classmethod
    def of(cls, signal: np.ndarray, market: Market) -> "Book":
        """The book of signals ``[n]`` or ``[k, n]``: flat before the first kline, flat
        again after the last."""
        p = np.atleast_2d(positions(signal))
        if p.shape[1] != len(market):
            raise ValueError(f"{p.shape[1]} signals for {len(market)} klines")
        changes = np.abs(np.diff(p, axis=1, prepend=0))
        return cls(p, market, changes, np.abs(p[:, -1]) if p.shape[1] else np.zeros(len(p)))

    @property
    def gross(self) -> np.ndarray:
        return self.p * self.market.ret

    def net(self, cost: float) -> np.ndarray:
        """Per-kline net returns ``[k, n]`` at ``cost`` per unit of turnover."""
        net = (1 + self.gross) * (1 - cost * self.changes)
        if net.shape[1]:
            net[:, -1] *= 1 - cost * self.exits
        return net - 1

    def __getitem__(self, part: slice) -> "Book":
        """The klines ``part`` of this book; trades stay where they were (the first kline of
        the part pays for the change from the kline before it, the final exit stays at
        the book's last kline)."""
        ends = part.indices(self.p.shape[1])[1] == self.p.shape[1]
        return Book(self.p[:, part], self.market[part], self.changes[:, part],
                    self.exits if ends else np.zeros(len(self.p)))


def compound(returns: np.ndarray) -> np.ndarray:
    """``prod(1 + r) - 1`` along the last axis."""
    return np.expm1(np.sum(np.log1p(returns), axis=-1))


def daily(returns: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Per-kline returns ``[k, n]`` -> compounded returns per UTC day ``[k, days]``."""
    if not len(day):
        return np.zeros(returns.shape[:-1] + (0,))
    starts = np.concatenate([[0], np.flatnonzero(np.diff(day)) + 1])
    return np.expm1(np.add.reduceat(np.log1p(returns), starts, axis=-1))


def sharpe(daily_returns: np.ndarray) -> np.ndarray:
    """Annualised Sharpe ratio per row; NaN where undefined."""
    if daily_returns.shape[-1] < 2:
        return np.full(daily_returns.shape[:-1], np.nan)
    std = daily_returns.std(axis=-1, ddof=1)
    mean = daily_returns.mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > 1e-15, mean / std * np.sqrt(DAYS_PER_YEAR), np.nan)


def max_drawdown(returns: np.ndarray) -> np.ndarray:
    """Largest fall of the equity curve from its running peak, as a fraction (0 = none)."""
    equity = np.exp(np.cumsum(np.log1p(returns), axis=-1))
    equity = np.concatenate([np.ones(equity.shape[:-1] + (1,)), equity], axis=-1)
    return np.max(1 - equity / np.maximum.accumulate(equity, axis=-1), axis=-1)


def calls(signal: np.ndarray, y: np.ndarray) -> dict:
    """Accuracy and balanced accuracy (mean recall over the classes that occur) of signals
    ``[k, n]`` against labels ``y`` ``[n]`` (``-1``: no label, not counted)."""
    signal = np.atleast_2d(signal)
    known = y >= 0
    right = signal[:, known] == y[known]
    recalls = [right[:, y[known] == c].mean(axis=1) for c in np.unique(y[known])]
    nan = np.full(len(signal), np.nan)
    return {"accuracy": right.mean(axis=1) if known.any() else nan,
            "balanced_accuracy": np.mean(recalls, axis=0) if recalls else nan}


def metrics(book: Book, signal: np.ndarray, y: np.ndarray, maker: float,
            taker: float) -> dict:
    """Every figure of the report per row of ``book``: arrays ``[k]``. ``maker`` and
    ``taker`` are the costs per unit of turnover (fee + slippage)."""
    net_taker = book.net(taker)
    p, ret = book.p, book.market.ret
    held = p != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        hit = np.where(held.any(axis=1),
                       np.sum(p * ret > 0, axis=1) / held.sum(axis=1), np.nan)
    return {
        "gross_return": compound(book.gross),
        "net_return_maker": compound(book.net(maker)),
        "net_return_taker": compound(net_taker),
        "sharpe": sharpe(daily(net_taker, book.market.day)),
        "max_drawdown": max_drawdown(net_taker),
        "trades": np.sum(book.changes > 0, axis=1) + (book.exits > 0),
        "turnover": book.changes.sum(axis=1) + book.exits,
        "time_in_market": held.mean(axis=1) if p.shape[1] else np.zeros(len(p)),
        "hit_rate": hit,
        **calls(signal, y),
    }


def row(figures: dict, i: int = 0, **about) -> dict:
    """Row ``i`` of :func:`metrics` as a JSON-ready dict (NaN -> None)."""
    out = dict(about)
    for key, values in figures.items():
        value = float(values[i])
        out[key] = None if np.isnan(value) else round(value) if key == "trades" else value
    return out


def median_row(figures: dict, **about) -> dict:
    """The median over the rows of :func:`metrics`, per figure (the random baseline)."""
    medians = {key: np.array([np.nanmedian(values) if np.isfinite(values).any() else np.nan])
               for key, values in figures.items()}
    return row(medians, **about)


#: Rows of a batch evaluated at once (the random baseline's draws, a few MB each).
CHUNK = 100


def account(signal: np.ndarray, market: Market, y: np.ndarray, maker: float, taker: float,
            parts=()) -> tuple[dict, list]:
    """One account trading ``signal`` (``[n]`` or ``[k, n]``) from flat to flat over the
    market: :func:`metrics` of the whole, and of each slice in ``parts`` (its klines of
    the same account, see :meth:`Book.__getitem__`)."""
    signal = np.atleast_2d(signal)
    whole, pieces = [], [[] for _ in parts]
    for start in range(0, len(signal), CHUNK):
        rows = signal[start:start + CHUNK]
        book = Book.of(rows, market)
        whole.append(metrics(book, rows, y, maker, taker))
        for piece, part in zip(pieces, parts):
            piece.append(metrics(book[part], rows[:, part], y[part], maker, taker))
    return join(whole), [join(piece) for piece in pieces]


def join(chunks: list) -> dict:
    return {key: np.concatenate([chunk[key] for chunk in chunks]) for key in chunks[0]}
