"""``backtest.json`` (machines), ``backtest.md`` and ``backtest.png`` (people).

The three are rendered first and then each replaced atomically, so a failure while
rendering leaves the previous report whole.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from sw.spec.files import atomic_write

COLUMNS = (("gross_return", "gross", "ret"), ("net_return_maker", "net maker", "ret"),
           ("net_return_taker", "net taker", "ret"), ("sharpe", "Sharpe", "num"),
           ("max_drawdown", "max DD", "pct"), ("trades", "trades", "int"),
           ("turnover", "turnover", "num"), ("time_in_market", "in market", "pct"),
           ("hit_rate", "hit rate", "pct"), ("accuracy", "accuracy", "pct"),
           ("balanced_accuracy", "bal. acc.", "pct"))


def cell(value, kind: str) -> str:
    if value is None:
        return "-"
    return {"ret": f"{value:+.2%}", "pct": f"{value:.2%}", "num": f"{value:.2f}",
            "int": f"{value:,}"}[kind]


def table(entries: list, first: str = "name") -> list[str]:
    lines = [f"| {first} | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
             "|---|" + "---:|" * len(COLUMNS)]
    for entry in entries:
        lines.append(f"| {entry['name']} | "
                     + " | ".join(cell(entry[key], kind) for key, _, kind in COLUMNS) + " |")
    return lines


def by_name(entries: list) -> dict:
    return {entry["name"]: entry for entry in entries}


def versus_lines(v: dict) -> list[str]:
    out = []
    for fee in ("taker", "maker"):
        b = v[f"bootstrap_{fee}"]
        out.append(f"- net of {fee} fees, exported minus {v['baseline']}: "
                   f"{b['difference']:+.2%} over {b['days']} days, {b['confidence']:.0%} "
                   f"interval [{b['ci_low']:+.2%}, {b['ci_high']:+.2%}] (daily-block "
                   f"bootstrap, {b['resamples']:,} resamples, seed {b['seed']}); the "
                   f"exported model is ahead in {b['share_above_zero']:.1%} of the resamples")
    m = v["mcnemar"]
    out.append(f"- calls (McNemar): only the exported model right on {m['a_only']:,} klines, "
               f"only {v['baseline']} on {m['b_only']:,}; p = {m['p']:.3g}")
    return out


def verdict(row: dict, baseline: dict) -> str:
    """One plain sentence on the exported model against a baseline, net of taker fees."""
    ahead = row["net_return_taker"] > baseline["net_return_taker"]
    loses = row["net_return_taker"] < 0
    return (f"The exported hardware model {'made' if not loses else 'lost'} "
            f"{abs(row['net_return_taker']):.2%} after taker fees "
            f"({row['net_return_maker']:+.2%} after maker fees, {row['gross_return']:+.2%} "
            f"before fees), {'ahead of' if ahead else 'behind'} {baseline['name']} "
            f"({baseline['net_return_taker']:+.2%} after taker fees).")


def markdown(report: dict) -> str:
    data, costs, label = report["data"], report["costs"], report["label"]
    test = report["test"]
    lines = [
        "# Backtest",
        "",
        f"Data: {data['source']} ({data['symbol']} {data['category']}, interval "
        f"{data['interval']}, {data['klines']:,} klines, {data['first']} to {data['last']} UTC"
        f"{', SYNTHETIC' if data['synthetic'] else ', real recorded data'}). Exported "
        f"scheme: {report['scheme']['name']}; label **{label['name']}**: "
        f"{label['definition']}.",
        "",
        f"Costs: maker fee {costs['maker_fee']:.3%}, taker fee {costs['taker_fee']:.3%}, "
        f"slippage {costs['slippage_bp']:g} bp per unit of turnover; funding ignored. "
        "Definitions at the end.",
        "",
    ]
    wf = report.get("walk_forward")
    if wf and {"selection", "headline"} <= set(wf["pooled"]):
        lines += walk_forward_lines(wf)
    best = by_name(report["baselines"])[test["best_baseline"]["name"]]
    lines += [
        f"## Test split: {test['first']} to {test['last']} UTC ({test['klines']:,} klines, "
        f"{test['days']} days)",
        "",
        f"Trained on the first {test['split']['train']:,} warm klines (validation "
        f"{test['split']['val']:,}); label thresholds {label.get('thresholds')}. "
        + verdict(by_name(report["schemes"])["exported"], best),
        "",
        *table(report["schemes"], "scheme"),
        "",
        *table(report["baselines"], "baseline"),
        "",
        f"Best baseline on the training split: **{best['name']}** (net after taker fees "
        f"{test['best_baseline']['net_return_taker_on_training']:+.2%} there).",
        "",
        *versus_lines(test["exported_vs_best_baseline"]),
        "",
    ]
    if wf:
        lines += fold_lines(wf)
    lines += ["## Multiple testing", "", report["multiple_testing"]["sentence"], "",
              "## Definitions", ""]
    lines += [f"- **{key}**: {text}" for key, text in report["definitions"].items()]
    return "\n".join(lines) + "\n"


def walk_forward_lines(wf: dict) -> list[str]:
    head, plan, labels = wf["pooled"]["headline"], wf["plan"], wf["labels"]
    best = by_name(head["baselines"])[head["best_baseline"]["name"]]
    exported = by_name(head["schemes"])["exported"]
    seeds = [row["net_return_taker"] for row in head["exported_seeds"]]
    lines = [
        f"## Headline: walk-forward, last third ({head['first_day']} to {head['last_day']}, "
        f"{head['folds']} folds, {head['klines']:,} klines)",
        "",
        f"Each fold trains on the {plan['train_days']} days before its test day "
        f"(the last {plan['validation_share']:.0%} for validation; {plan['epochs']} epochs), "
        f"then trades that day; every scheme is retrained per fold (seed {plan['seeds'][0]}), "
        f"the exported scheme for seeds {plan['seeds']}. The label was chosen on the folds "
        f"before {wf['cut']} UTC (the first two thirds of the file); these figures come "
        "from the folds after it alone.",
        "",
        verdict(exported, best) + f" Across seeds the exported model's net return after "
        f"taker fees ranges from {min(seeds):+.2%} to {max(seeds):+.2%}.",
        "",
        *table(head["schemes"] + head["exported_seeds"], "scheme"),
        "",
        *table(head["baselines"], "baseline"),
        "",
        f"Best baseline on the selection folds: **{best['name']}**.",
        "",
        *versus_lines(head["exported_vs_best_baseline"]),
        "",
        "## The label",
        "",
        f"Rule: {labels['rule']}. Chosen: **{labels['chosen']}**. Exported model, pooled "
        "over the selection folds (choice) and the headline folds (after):",
        "",
        "| label | horizon | eligible | selection net taker | selection in market "
        "| headline net taker | headline net maker | headline in market |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for c in (c for c in labels["candidates"] if "selection" in c):
        sel, hl = c["selection"][0], c["headline"][0]
        lines.append(f"| {c['name']} | {c['horizon_klines']} | "
                     f"{'yes' if c['eligible'] else 'no'} | "
                     f"{cell(sel['net_return_taker'], 'ret')} "
                     f"| {sel['time_in_market']:.1%} | {cell(hl['net_return_taker'], 'ret')} "
                     f"| {cell(hl['net_return_maker'], 'ret')} | {hl['time_in_market']:.1%} |")
    spread = wf["spread"]["net_return_taker"]
    lines += ["", "## Spread across folds (net return after taker fees per fold)", "",
              "| scheme | folds | min | median | max | std | positive folds |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for name, s in spread.items():
        lines.append(f"| {name} | {s['count']} | {cell(s['min'], 'ret')} | "
                     f"{cell(s['median'], 'ret')} | {cell(s['max'], 'ret')} | {s['std']:.2%} "
                     f"| {s['positive']} |")
    return lines + [""]


def fold_lines(wf: dict) -> list[str]:
    seeds = wf["plan"]["seeds"]
    lines = ["## Per fold (net return after taker fees)", "",
             "| fold | test day | part | " + " | ".join(f"exported seed {s}" for s in seeds)
             + " | fp32 | buy-and-hold | always-flat | label thresholds |",
             "|---:|---|---|" + "---:|" * (len(seeds) + 3) + "---|"]
    for f in wf["folds"]:
        schemes, baselines = by_name(f["schemes"]), by_name(f["baselines"])
        values = [row["net_return_taker"] for row in f["exported_seeds"]] + [
            schemes["fp32"]["net_return_taker"], baselines["buy-and-hold"]["net_return_taker"],
            baselines["always-flat"]["net_return_taker"]]
        thresholds = ", ".join(f"{t:+.5f}" for t in f["label_thresholds"])
        lines.append(f"| {f['fold']} | {f['test_day']} | {f['part']} | "
                     + " | ".join(cell(v, "ret") for v in values) + f" | {thresholds} |")
    return lines + [""]


def plot(report: dict) -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    wf = report.get("walk_forward")
    head = wf["pooled"].get("headline") if wf else None
    head = head if head and "equity" in head else None
    fig, axes = plt.subplots(2, 2, figsize=(15, 10))
    equity = head["equity"] if head else report["test"]["equity"]
    where = "walk-forward, last third" if head else "test split"
    ax = axes[0][0]
    for name in equity:
        if name != "days":
            ax.plot(range(len(equity["days"])), equity[name], label=name,
                    lw=2.5 if name == "exported" else 1.2, ls="--" if "gross" in name else "-")
    ticks = range(0, len(equity["days"]), max(len(equity["days"]) // 6, 1))
    ax.set_xticks(list(ticks), [equity["days"][i] for i in ticks], fontsize=8)
    ax.axhline(1, color="grey", lw=0.5)
    ax.set_title(f"Equity after taker fees, one point per day ({where})")
    ax.legend()
    rows = head["schemes"] + head["baselines"] if head else report["schemes"] + report["baselines"]
    ax = axes[0][1]
    names = [r["name"] for r in rows]
    for offset, key, color in ((-0.2, "net_return_maker", "#1f77b4"),
                               (0.2, "net_return_taker", "#d62728")):
        ax.barh([i + offset for i in range(len(rows))], [100 * r[key] for r in rows], 0.4,
                color=color, label=key.replace("_", " "))
    ax.set_yticks(range(len(rows)), names, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("%")
    ax.set_title(f"Net return by scheme and baseline ({where})")
    ax.legend()
    if head:
        folds_plot(axes[1][0], wf)
        labels_plot(axes[1][1], wf)
    else:
        for ax in axes[1]:
            ax.set_axis_off()
    source = report["data"]["source"] + (" (SYNTHETIC)" if report["data"]["synthetic"] else "")
    fig.suptitle(f"Backtest of {source}, label {report['label']['name']}, exported "
                 f"{report['scheme']['name']}")
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=100)
    plt.close(fig)
    return out.getvalue()


def folds_plot(ax, wf: dict) -> None:
    folds = wf["folds"]
    x = range(len(folds))
    for s, seed in enumerate(wf["plan"]["seeds"]):
        ax.scatter(x, [100 * f["exported_seeds"][s]["net_return_taker"] for f in folds], s=12,
                   label=f"exported seed {seed}")
    for name, style in (("buy-and-hold", "k-"), ("always-flat", "g--")):
        ax.plot(x, [100 * by_name(f["baselines"])[name]["net_return_taker"] for f in folds],
                style, lw=1, label=name)
    cut = [i for i, f in enumerate(folds) if f["part"] != "selection"]
    if cut:
        ax.axvline(cut[0] - 0.5, color="grey", ls=":", label="selection | headline")
    ax.set_xlabel("fold (test day)")
    ax.set_ylabel("net return after taker fees, %")
    ax.set_title("Per fold")
    ax.legend(fontsize=8)


def labels_plot(ax, wf: dict) -> None:
    candidates = wf["labels"]["candidates"]
    names = [c["name"] + ("" if c["eligible"] else " (ineligible)") for c in candidates]
    for offset, part, color in ((-0.2, "selection", "#9467bd"), (0.2, "headline", "#ff7f0e")):
        ax.barh([i + offset for i in range(len(candidates))],
                [100 * c[part][0]["net_return_taker"] for c in candidates], 0.4, color=color,
                label=f"{part} folds")
    ax.set_yticks(range(len(candidates)), names)
    ax.invert_yaxis()
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("exported model, net return after taker fees, %")
    ax.set_title(f"Labels (chosen on the selection folds: {wf['labels']['chosen']})")
    ax.legend()


def write(report: dict, out_dir) -> Path:
    out = Path(out_dir)
    rendered = {"backtest.json": json.dumps(report, indent=1), "backtest.md": markdown(report),
                "backtest.png": plot(report)}
    for name, content in rendered.items():
        with atomic_write(out / name, binary=isinstance(content, bytes)) as handle:
            handle.write(content)
    return out / "backtest.json"
