"""The latency report: the core measured in simulation beside the software reference.

Hardware figures come from :mod:`sim.core_bench` (cycles, handshake to handshake): the
headline latency is the measured median no-stall latency and the throughput the measured
initiation interval (the bench fails unless both equal the declared ones, which the report
shows beside them). Cycles become nanoseconds at the achieved fmax of a board build
(``build/<board>/report.json``, key ``fmax_mhz``) when one exists for the configuration,
otherwise at a nominal clock, and the report says which. Software figures are per kline,
batch of one, timed on this machine in the same run: ``sw_float`` is
:func:`sw.spec.features.features_float` plus the float MLP with the dequantized weights;
``sw_golden`` is :func:`sw.spec.golden.run` (integer features included). Both see the kline
with just the history its features need. Output: ``latency.json``, ``latency.md`` and
``latency.png``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from sw.learn.model import MLP
from sw.spec import golden
from sw.spec.features import features_float

NOMINAL_CLOCK_MHZ = 100.0
SOFTWARE_SAMPLES = 2000


def float_mlp(model) -> MLP:
    """The artifact's layers in float: weights ``W * weight_scale``, biases
    ``(bias + zp_in * sum(W)) * input_scale * weight_scale`` (the zero-point unfolded)."""
    weights, biases, zero_point = [], [], 0
    for layer in model.layers:
        weight_scale = np.broadcast_to(layer.weight_scale, (layer.outputs,))
        weights.append(layer.weights * weight_scale[:, None])
        biases.append((layer.bias + zero_point * layer.weights.sum(axis=1))
                      * layer.input_scale * weight_scale)
        zero_point = layer.output_zero_point
    return MLP(weights, biases)


def software_timings(model, klines, samples: int = SOFTWARE_SAMPLES) -> dict:
    """Per-kline wall time (µs) of ``sw_float`` and ``sw_golden`` on ``samples`` klines
    spread over the file, each given the ``warmup_klines`` klines before it."""
    history = model.features.warmup_klines
    ends = np.linspace(history, len(klines) - 1, min(samples, max(len(klines) - history, 0)))
    windows = [klines[int(end) - history:int(end) + 1] for end in ends.astype(int)]
    mlp, spec = float_mlp(model), model.features
    timings = {"sw_float_us": [], "sw_golden_us": []}
    for window in windows:
        start = time.perf_counter_ns()
        mlp.forward(features_float(window, spec)[-1:])
        middle = time.perf_counter_ns()
        golden.run(model, window)
        end = time.perf_counter_ns()
        timings["sw_float_us"].append((middle - start) / 1e3)
        timings["sw_golden_us"].append((end - middle) / 1e3)
    return timings


def board_clock(build_root: Path, config: str) -> tuple[float, str]:
    """(MHz, source): the fmax of the newest board build of ``config``, else nominal."""
    reports = []
    for path in Path(build_root).glob("*/report.json"):
        try:
            report = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(report, dict) and report.get("fmax_mhz") and \
                report.get("config", config) == config:
            reports.append((path.stat().st_mtime, path, report))
    if not reports:
        return NOMINAL_CLOCK_MHZ, "nominal"
    _, path, report = max(reports, key=lambda item: item[0])
    return float(report["fmax_mhz"]), f"fmax of {report.get('board', path.parent.name)} " \
                                      f"({path})"


def summary(values) -> dict:
    values = np.asarray(values, dtype=float)
    return {"min": float(values.min()), "median": float(np.median(values)),
            "max": float(values.max())}


def latency_report(results: dict, timings: dict, clock: tuple[float, str], about: dict) -> dict:
    """The ``latency.json`` content from bench ``results`` and software ``timings``."""
    clock_mhz, clock_source = clock
    declared = results["declared"]
    nostall = summary(results["nostall_latency_cycles"])
    # measured, not declared: the bench fails when the two differ, and the report shows both
    hw_ns = nostall["median"] * 1e3 / clock_mhz
    sw_float, sw_golden = (float(np.median(timings[k])) for k in ("sw_float_us", "sw_golden_us"))
    cycles = summary(results["latency_cycles"])
    return {
        **about,
        "klines": results["klines"],
        "outputs": results["outputs"],
        "mismatches": results["mismatches"],
        "first_mismatches": results["first_mismatches"],
        "reset_at_kline": results["reset_at_kline"],
        "discarded_at_reset": results["discarded_at_reset"],
        "latency_cycles": {k: int(v) if k != "median" else v for k, v in cycles.items()},
        "nostall_latency_cycles": nostall,
        "ii": results["ii_cycles"],
        "declared_latency": declared["latency"],
        "declared_ii": declared["ii"],
        "throughput_klines_per_cycle": results["throughput_klines_per_cycle"],
        "full_rate_throughput_klines_per_cycle": 1 / results["ii_cycles"],
        "backpressure": {"gap_probability": results["gap_probability"],
                         "stall_probability": results["stall_probability"],
                         "seed": results["seed"]},
        "clock_mhz": clock_mhz,
        "clock_source": clock_source,
        "hw_latency_ns": hw_ns,
        "hw_latency_ns_with_backpressure": {k: v * 1e3 / clock_mhz for k, v in cycles.items()},
        "hw_throughput_mklines_per_s": clock_mhz / results["ii_cycles"],
        "sw_float_us": sw_float,
        "sw_golden_us": sw_golden,
        "sw_samples": len(timings["sw_float_us"]),
        "speedup_vs_sw_float": sw_float * 1e3 / hw_ns,
        "speedup_vs_sw_golden": sw_golden * 1e3 / hw_ns,
    }


def write(report: dict, results: dict, timings: dict, directory) -> dict:
    """Write ``latency.json``, ``latency.md`` and ``latency.png``; return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {kind: directory / f"latency.{kind}" for kind in ("json", "md", "png")}
    paths["json"].write_text(json.dumps(report, indent=1))
    paths["md"].write_text(markdown(report, paths["png"].name))
    plot(report, results, timings, paths["png"])
    return paths


def markdown(r: dict, plot_name: str) -> str:
    cycles, ns = r["latency_cycles"], r["hw_latency_ns_with_backpressure"]
    clock = f"{r['clock_mhz']:.2f} MHz ({r['clock_source']})"
    bp = r["backpressure"]
    lines = [
        f"# Latency: {r['config']} core vs software, {r['klines']:,} klines",
        "",
        f"Data `{r['data']}`, model `{r['model']}` ({r['scheme']}). Simulated on Icarus "
        f"Verilog with cocotb in {r['simulation_s']:.1f} s: **{r['mismatches']} mismatches** "
        f"against `sw.spec.golden` over {r['outputs']:,} outputs "
        f"({r['discarded_at_reset']} in flight discarded by the reset at kline "
        f"{r['reset_at_kline']}). Backpressure: input idle {bp['gap_probability']:.0%} and "
        f"output stalled {bp['stall_probability']:.0%} of cycles (seed {bp['seed']}).",
        "",
        "| | hardware (simulated) | software `sw_float` | software `sw_golden` |",
        "|---|---|---|---|",
        f"| latency per kline | **{r['hw_latency_ns']:.1f} ns** "
        f"({r['nostall_latency_cycles']['median']:g} cycles measured without stalls, at "
        f"{r['clock_mhz']:.2f} MHz) | {r['sw_float_us']:.1f} µs (median) | "
        f"{r['sw_golden_us']:.1f} µs (median) |",
        f"| speed-up of the hardware | | {r['speedup_vs_sw_float']:,.0f}× | "
        f"{r['speedup_vs_sw_golden']:,.0f}× |",
        f"| throughput | {r['hw_throughput_mklines_per_s']:.2f} M klines/s (measured II "
        f"{r['ii']}) | "
        f"{1 / r['sw_float_us']:.3f} M klines/s | {1 / r['sw_golden_us']:.3f} M klines/s |",
        "",
        "| hardware, cycles | measured | declared |",
        "|---|---|---|",
        f"| latency, no stalls | {fmt(r['nostall_latency_cycles'])} | {r['declared_latency']} |",
        f"| initiation interval | {r['ii']} | {r['declared_ii']} |",
        f"| latency with backpressure (handshake to handshake) | min {cycles['min']}, median "
        f"{cycles['median']:g}, max {cycles['max']} ({ns['min']:.0f} / {ns['median']:.0f} / "
        f"{ns['max']:.0f} ns) | |",
        f"| throughput with backpressure | {r['throughput_klines_per_cycle']:.3f} klines/cycle "
        f"| {1 / r['declared_ii']:.3f} at full rate |",
        "",
        f"Clock: {clock}. Software: one kline at a time (with the history its features "
        f"need), median of {r['sw_samples']} klines on this machine; `sw_float` = float "
        "features + float MLP with dequantized weights, `sw_golden` = the integer golden "
        "model incl. integer features.",
        "",
        f"![latency distributions]({plot_name})",
        "",
    ]
    return "\n".join(lines)


def fmt(stats: dict | None) -> str:
    if not stats:
        return "n/a"
    if stats["min"] == stats["max"]:
        return f"{stats['min']:g}"
    return f"{stats['min']:g} .. {stats['max']:g}"


def plot(r: dict, results: dict, timings: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hw_ns = np.asarray(results["latency_cycles"], dtype=float) * 1e3 / r["clock_mhz"]
    series = [(f"hardware, {r['config']} core with backpressure", hw_ns, "tab:blue"),
              ("sw_float (float features + MLP)", np.asarray(timings["sw_float_us"]) * 1e3,
               "tab:orange"),
              ("sw_golden (integer golden model)", np.asarray(timings["sw_golden_us"]) * 1e3,
               "tab:green")]
    low = min(s.min() for _, s, _ in series)
    high = max(s.max() for _, s, _ in series)
    bins = np.logspace(np.log10(low * 0.8), np.log10(high * 1.25), 120)
    fig, ax = plt.subplots(figsize=(10, 5))
    for label, values, color in series:
        ax.hist(values, bins=bins, color=color, alpha=0.75,
                weights=np.full(len(values), 100 / len(values)),
                label=f"{label}: median {np.median(values):,.0f} ns")
    ax.axvline(r["hw_latency_ns"], color="black", linestyle="--",
               label=f"core latency without stalls, measured "
                     f"{r['nostall_latency_cycles']['median']:g} cycles (declared "
                     f"{r['declared_latency']}) = {r['hw_latency_ns']:.0f} ns")
    ax.set_xscale("log")
    ax.set_xlabel("latency per kline (ns, log scale)")
    ax.set_ylabel("share of klines (%)")
    ax.set_title(f"{r['klines']:,} klines, {r['mismatches']} mismatches; hardware at "
                 f"{r['clock_mhz']:.1f} MHz ({r['clock_source'].split(' (')[0]}), "
                 f"software on this machine")
    ax.legend(loc="upper center", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
