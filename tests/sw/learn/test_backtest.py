"""The backtest's arithmetic on hand-made prices, its statistics on known inputs, and the
impossibility of a look-ahead."""

import numpy as np
import pytest

from sw.data.synthetic import synthetic_klines
from sw.learn.backtest import pnl, schemes, stats, walk
from sw.learn.backtest.baselines import Baselines, volatility_rule
from sw.learn.backtest.pnl import DAY_MS, Book, Market
from sw.learn.backtest.run import Costs
from sw.learn.labels import LABELS, TAKER_FEE, classes
from sw.learn.model import prepare
from sw.learn.train import EXPORT
from sw.spec.klines import Klines, instrument

DOWN, FLAT, UP = 0, 1, 2
FIVE_MINUTES = 300_000


def hand_made(closes, start_ms=0, step=FIVE_MINUTES) -> Klines:
    """Klines with the given closes in ticks, each opening at the previous close."""
    close = np.array(closes, dtype=np.int64)
    open_ = np.concatenate([[close[0]], close[:-1]])
    return Klines(instrument("linear", "BTCUSDT"), "5",
                  start_ms + step * np.arange(len(close), dtype=np.int64), open_,
                  np.maximum(open_, close), np.minimum(open_, close), close,
                  np.full(len(close), 1000, dtype=np.int64))


def test_known_trades_give_exact_returns_and_fees():
    klines = hand_made([1000, 1100, 990, 990, 1089, 1200])
    market = Market.of(klines, np.arange(4))      # returns +10 %, -10 %, 0, +10 %
    assert market.ret == pytest.approx([0.1, -0.1, 0.0, 0.1], abs=1e-15)
    signal = np.array([UP, DOWN, FLAT, UP])       # long, flip short, flat, long
    book = Book.of(signal, market)
    fee = 0.001
    assert book.changes.tolist() == [[1, 2, 1, 1]] and book.exits.tolist() == [1]
    f = pnl.metrics(book, signal, np.array([UP, DOWN, FLAT, UP]), maker=fee / 2, taker=fee)
    # entry 1, flip 2, exit to flat 1, entry 1, final exit 1: six fees in all
    assert f["gross_return"][0] == pytest.approx(1.1 ** 3 - 1, rel=1e-12)
    assert f["net_return_taker"][0] == pytest.approx(
        1.1 ** 3 * (1 - fee) ** 4 * (1 - 2 * fee) - 1, rel=1e-12)
    assert f["net_return_maker"][0] == pytest.approx(
        1.1 ** 3 * (1 - fee / 2) ** 4 * (1 - fee) - 1, rel=1e-12)
    assert f["trades"][0] == 5 and f["turnover"][0] == 6
    assert f["time_in_market"][0] == 0.75 and f["hit_rate"][0] == 1.0
    assert f["accuracy"][0] == 1.0
    # the short lost nothing when the price fell: the drawdown is the fees alone
    assert f["max_drawdown"][0] == pytest.approx(fee, rel=1e-9)


def test_slippage_adds_to_either_fee():
    costs = Costs(maker_fee=0.0002, taker_fee=0.00055, slippage_bp=1.5)
    assert costs.maker == pytest.approx(0.00035) and costs.taker == pytest.approx(0.0007)


def test_always_flat_makes_exactly_zero():
    klines = synthetic_klines(500, seed=1)
    market = Market.of(klines, np.arange(499))
    signal = np.full(499, FLAT)
    f = pnl.metrics(Book.of(signal, market), signal, np.full(499, FLAT), 0.0002, 0.00055)
    for key in ("gross_return", "net_return_maker", "net_return_taker", "max_drawdown",
                "trades", "turnover", "time_in_market"):
        assert f[key][0] == 0.0, key
    assert np.isnan(f["sharpe"][0]) and np.isnan(f["hit_rate"][0])
    assert np.all(Book.of(signal, market).net(0.01) == 0.0)


def test_buy_and_hold_earns_the_price_change_less_two_fees():
    klines = hand_made([1000, 1013, 987, 1100, 1040])
    market = Market.of(klines, np.arange(4))
    net = Book.of(np.full(4, UP), market).net(0.001)
    assert pnl.compound(net)[0] == pytest.approx(1040 / 1000 * 0.999 ** 2 - 1, rel=1e-12)


def test_sharpe_of_daily_returns():
    # the return of kline t is earned over candle t + 1, and belongs to that candle's day
    start = 10 * DAY_MS - FIVE_MINUTES
    offsets = np.array([0, 1, 2, 3, 4, 5]) * FIVE_MINUTES + np.array([0, 0, 1, 1, 2, 2]) * (
        DAY_MS - 2 * FIVE_MINUTES)
    klines = hand_made([100, 110, 121, 121, 133, 120], start_ms=start)
    klines = Klines(klines.instrument, "5", start + offsets, klines.open, klines.high,
                    klines.low, klines.close, klines.volume)
    market = Market.of(klines, np.arange(5))
    assert market.day.tolist() == [10, 10, 11, 11, 12]
    returns = np.array([[0.01, 0.02, -0.01, 0.03, 0.005]])
    daily = pnl.daily(returns, market.day)[0]
    assert daily == pytest.approx([1.01 * 1.02 - 1, 0.99 * 1.03 - 1, 0.005])
    expected = np.mean(daily) / np.std(daily, ddof=1) * np.sqrt(365)
    assert pnl.sharpe(daily[None])[0] == pytest.approx(expected)
    assert np.isnan(pnl.sharpe(np.zeros((1, 3)))[0])


def test_a_part_of_a_book_keeps_its_trades_where_they_were():
    market = Market(np.array([0.01, -0.02, 0.03, 0.0]), np.zeros(4, dtype=np.int64))
    book = Book.of(np.array([UP, UP, DOWN, DOWN]), market)
    head, tail = book[:2], book[2:]
    assert head.exits.tolist() == [0] and tail.exits.tolist() == [1]
    assert tail.changes.tolist() == [[2, 0]]          # the flip happened at kline 2
    whole = pnl.compound(book.net(0.001))[0]
    assert (1 + pnl.compound(head.net(0.001))[0]) * (1 + pnl.compound(tail.net(0.001))[0]) \
        == pytest.approx(1 + whole, rel=1e-12)


def test_mcnemar_on_known_splits():
    right = np.ones(10, bool)
    assert stats.mcnemar(right, right) == {"a_only": 0, "b_only": 0, "p": 1.0}
    only_a = stats.mcnemar(right, ~right)
    assert (only_a["a_only"], only_a["b_only"]) == (10, 0)
    assert only_a["p"] == pytest.approx(2 / 2 ** 10)
    a = np.array([1] * 3 + [0] * 7 + [1] * 5, bool)
    b = np.array([0] * 3 + [1] * 7 + [1] * 5, bool)
    assert stats.mcnemar(a, b)["p"] == pytest.approx(2 * (1 + 10 + 45 + 120) / 1024)


def test_bootstrap_on_known_inputs():
    days = np.array([0.01, -0.02, 0.03, 0.0, 0.015])
    same = stats.bootstrap(days, days, resamples=500, seed=3)
    assert same["difference"] == same["ci_low"] == same["ci_high"] == 0.0
    assert same["share_above_zero"] == 0.0
    steady = stats.bootstrap(np.full(20, 0.01), np.zeros(20), resamples=500)
    assert steady["difference"] == pytest.approx(1.01 ** 20 - 1)
    assert steady["ci_low"] == pytest.approx(steady["ci_high"]) == pytest.approx(1.01 ** 20 - 1)
    assert steady["share_above_zero"] == 1.0
    once = stats.bootstrap(days, np.zeros(5), seed=7)
    assert once == stats.bootstrap(days, np.zeros(5), seed=7)       # seeded
    assert once["ci_low"] < once["difference"] < once["ci_high"]
    assert once["resamples"] == 2000
    with pytest.raises(ValueError):
        stats.bootstrap(days, days[:3])


def test_labels_keep_three_classes_and_their_definitions(klines_5m):
    close = klines_5m.close.astype(float)
    for label in LABELS.values():
        data = prepare(klines_5m, label=label)
        assert set(np.unique(data.y[data.splits["train"]])) == {DOWN, FLAT, UP}, label.name
        assert data.y[-label.horizon:].tolist() == [-1] * label.horizon
        if label.band is not None:
            assert data.thresholds == (-label.band, label.band)
            h, t = label.horizon, 1000
            r = close[t + h] / close[t] - 1
            assert data.y[t] == (DOWN if r <= -label.band else UP if r > label.band else FLAT)
    cost_aware = LABELS["cost-aware"]
    assert cost_aware.band == 2 * TAKER_FEE


def test_a_horizon_label_purges_the_klines_whose_labels_reach_the_next_part(klines_5m):
    data = prepare(klines_5m, label=LABELS["cost-aware-6"])
    train, val, test = (data.splits[k] for k in ("train", "val", "test"))
    assert train[-1] + 6 <= val[0] and val[-1] + 6 <= test[0]
    assert val[0] - train[-1] == 6


def test_persistence_calls_the_class_of_the_current_candle():
    label = LABELS["sign-band"]
    klines = hand_made([100_000, 110_000, 100_000, 100_000, 100_010, 150_000])   # +1 bp: flat
    past = label.past(klines)
    assert np.isnan(past[0]) and past[1] == pytest.approx(0.1)
    assert classes(past, label.fit(None)).tolist() == [-1, UP, DOWN, FLAT, FLAT, UP]


def test_volatility_rule():
    klines = hand_made([1000, 1010, 1000, 1001, 1000])   # ranges 0, 1 %, ~1 %, 0.1 %, 0.1 %
    assert volatility_rule(klines, 0.005).tolist() == [FLAT, UP, DOWN, FLAT, FLAT]


def splice(klines: Klines, at: int, other: Klines) -> Klines:
    """``klines`` up to ``at``, then ``other``'s prices and volumes (another future)."""
    def field(name):
        return np.concatenate([getattr(klines, name)[:at], getattr(other, name)[at:]])
    return Klines(klines.instrument, klines.interval, klines.start_ms, *(
        field(name) for name in ("open", "high", "low", "close", "volume")),
        synthetic=True, source="spliced")


def test_no_position_sees_the_future_walk_forward():
    """Another future after kline ``at`` (inside a fold's test day) moves no position
    before it: not the models' (retrained), not the baselines'."""
    klines = synthetic_klines(288 * 4, seed=11)
    plan = walk.Plan(train_days=2, seeds=(0, 1))
    label = LABELS["cost-aware-6"]     # the longest label: its purge is under test too
    (fold,) = walk.folds(klines, plan)
    at = int(fold.test[150])
    other = splice(klines, at, synthetic_klines(288 * 4, seed=12))
    runs = [walk.run(k, plan, label, EXPORT[8], hidden=(8,), epochs=2)[0]
            for k in (klines, other)]
    before = 150
    for name in runs[0].signals:
        assert np.array_equal(runs[0].signals[name][:before], runs[1].signals[name][:before]), name
    for name in runs[0].baselines:
        assert np.array_equal(runs[0].baselines[name][..., :before],
                              runs[1].baselines[name][..., :before]), name
    for seed in plan.seeds:
        assert np.array_equal(runs[0].seeds[seed][:before], runs[1].seeds[seed][:before])
    # the future did change: the positions after it are not all the same
    assert any(not np.array_equal(runs[0].signals[n][before:], runs[1].signals[n][before:])
               for n in runs[0].signals)


def test_no_position_sees_the_future_test_split():
    klines = synthetic_klines(3000, seed=13)
    before = 200
    at = int(prepare(klines).splits["test"][before])
    runs = []
    for k in (klines, splice(klines, at, synthetic_klines(3000, seed=14))):
        data = prepare(k)
        test = data.splits["test"]
        runs.append({**schemes.signals(data, k, EXPORT[8], hidden=(8,), epochs=2),
                     **Baselines.fit(k, data).signals(k, test)})
    for name, signal in runs[0].items():
        assert np.array_equal(signal[..., :before], runs[1][name][..., :before]), name


def test_baselines_learn_from_the_training_split_only():
    klines = synthetic_klines(3000, seed=5)
    data = prepare(klines)
    at = int(data.splits["val"][0]) + 1      # kline val[0] is the last training label's
    other = splice(klines, at, synthetic_klines(3000, seed=6))
    assert Baselines.fit(other, prepare(other)).to_json() == Baselines.fit(klines, data).to_json()
