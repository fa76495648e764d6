"""What a quant checks before trusting klines: gaps, flat volume, and whether a model was
trained on the same market and interval as the data it is given."""

from __future__ import annotations

import numpy as np

from sw.spec.klines import KlineError, Klines, interval_ms, iso

#: Gaps listed one by one; the rest are counted.
LISTED_GAPS = 5


def missing(klines: Klines, gap: tuple) -> int:
    before, after = gap
    return (after - before) // interval_ms(klines.interval) - 1


def gap_lines(klines: Klines) -> list:
    """``gap: ...`` lines naming the first :data:`LISTED_GAPS` gaps with their times and
    the klines they lack, and how many more there are."""
    lines = [f"gap: {klines.source}: no klines between {iso(before)} and {iso(after)} "
             f"({missing(klines, (before, after)):,} missing)"
             for before, after in klines.gaps[:LISTED_GAPS]]
    rest = klines.gaps[LISTED_GAPS:]
    if rest:
        lines.append(f"gap: {klines.source}: {len(rest)} more gaps, "
                     f"{sum(missing(klines, gap) for gap in rest):,} klines missing")
    return lines


def gaps_error(klines: Klines) -> str | None:
    """Why training refuses ``klines`` with gaps (``--allow-gaps`` overrides), or ``None``."""
    if not klines.gaps:
        return None
    before, after = klines.gaps[0]
    total = sum(missing(klines, gap) for gap in klines.gaps)
    return (f"{klines.source}: {len(klines.gaps)} gap{'s' * (len(klines.gaps) > 1)} "
            f"({total:,} klines missing), the first between {iso(before)} and {iso(after)}: "
            "features and labels across a gap join candles that are not neighbours; "
            "--allow-gaps trains anyway")


def warnings(klines: Klines) -> list:
    """``warning: ...`` lines for data that trains without meaning: no volume at all."""
    if len(klines) and not np.any(klines.volume):
        return [f"warning: {klines.source}: volume is 0 in every kline, so the volume "
                "feature carries nothing"]
    return []


def model_mismatch(meta: dict, klines: Klines) -> str | None:
    """Why ``klines`` are not what the model (its artifact ``meta``) was trained on: the
    category, symbol or interval differ. ``None`` when they agree or the model does not
    say."""
    trained = meta.get("data", {})
    given = {"category": klines.instrument.category, "symbol": klines.instrument.symbol,
             "interval": klines.interval}
    differ = [key for key, value in given.items() if key in trained and trained[key] != value]
    if not differ:
        return None

    def market(values):
        return (f"{values.get('category', '?')} {values.get('symbol', '?')} interval "
                f"{values.get('interval', '?')}")

    return (f"{klines.source} holds {market(given)} klines, the model was trained on "
            f"{market(trained)} klines ({', '.join(differ)} differ): its features and "
            "thresholds mean something else there; --force runs it anyway")


def vet(meta: dict, klines: Klines, force: bool, say) -> None:
    """Before a model runs on ``klines``: refuse a market or interval other than its own
    (:class:`KlineError`) unless ``force``, and ``say`` the gaps and warnings."""
    mismatch = model_mismatch(meta, klines)
    if mismatch and not force:
        raise KlineError(mismatch)
    if mismatch:
        say(f"warning: {mismatch.split(':')[0]} (--force)")
    for line in gap_lines(klines) + warnings(klines):
        say(line)
