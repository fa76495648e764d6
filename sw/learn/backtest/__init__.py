"""What the signal is worth: trading every precision and the baselines, net of fees.

:mod:`~sw.learn.backtest.pnl` the trading arithmetic and its figures,
:mod:`~sw.learn.backtest.stats` the bootstrap and McNemar,
:mod:`~sw.learn.backtest.baselines` the rules to beat,
:mod:`~sw.learn.backtest.schemes` the signal of every precision (the exported one from
:func:`sw.spec.golden.run`), :mod:`~sw.learn.backtest.walk` the walk-forward folds,
:mod:`~sw.learn.backtest.run` the test split, the walk-forward and the label study,
:mod:`~sw.learn.backtest.report` the files. ``python -m sw.backtest`` runs it.
"""
