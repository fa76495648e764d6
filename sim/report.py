"""The latency report: the core measured in simulation beside the software reference.

Hardware figures come from :mod:`sim.core_bench` (cycles, handshake to handshake) and the
core's export description: ``latency_cycles`` is the declared latency (klines at least
``latency_spacing_cycles`` apart), and the bench fails unless the measured no-stall
latency and initiation interval equal the declared ones; the report shows both. Cycles
become nanoseconds at the clock the bitstream runs: the PLL output of the newest board
build of the configuration (``build/<board>/report.json``, ``clock.achieved_mhz``), with
that build's fmax beside it (``latency_ns_at_fmax``); without a build, a nominal clock,
and the report says so.

Software figures are per kline, on this machine, in the same run. The headline is
against the compiled reference :mod:`sw.spec.compiled` (the integer spec streamed with
Numba): ``sw_compiled_ns`` is the median of every kline of the file timed alone,
``sw_compiled_loop_ns`` the dependent loop over the file (see that module). The NumPy
figures stay beside it, one kline at a time with just the history its features need:
``sw_golden`` is :func:`sw.spec.golden.run`, ``sw_float`` the float features
(:func:`sw.spec.features.features_float`) and the float network with the artifact's
dequantized weights. Output: ``latency.json``, ``latency.md`` and ``latency.png``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from sw.spec import compiled, golden, schema
from sw.spec.features import features_float
from sw.spec.files import atomic_write

NOMINAL_CLOCK_MHZ = 100.0
SOFTWARE_SAMPLES = 2000
COMPILED_PASSES = 5
#: Single klines this much slower than the loop flag a machine busy with other work.
SLOWED = 1.25


def float_layers(model) -> list:
    """The artifact's layers in float, ``(W, b)`` each: ``W * weight_scale`` and
    ``(bias + zp_in * sum(W)) * input_scale * weight_scale`` (the zero-point unfolded)."""
    layers, zero_point = [], 0
    for layer in model.layers:
        weight_scale = np.broadcast_to(layer.weight_scale, (layer.outputs,))
        layers.append((layer.weights * weight_scale[:, None],
                       (layer.bias + zero_point * layer.weights.sum(axis=1))
                       * layer.input_scale * weight_scale))
        zero_point = layer.output_zero_point
    return layers


def float_forward(layers: list, x: np.ndarray) -> np.ndarray:
    """Logits of the float network: ReLU between the layers, linear output."""
    for k, (weights, bias) in enumerate(layers):
        x = x @ weights.T + bias
        if k < len(layers) - 1:
            x = np.maximum(x, 0)
    return x


def numpy_timings(model, klines, samples: int = SOFTWARE_SAMPLES) -> dict:
    """Per-kline wall time (µs) of ``sw_float`` and ``sw_golden`` on ``samples`` klines
    spread over the file, each given the ``warmup_klines`` klines before it."""
    history = model.features.warmup_klines
    ends = np.linspace(history, len(klines) - 1, min(samples, max(len(klines) - history, 0)))
    windows = [klines[int(end) - history:int(end) + 1] for end in ends.astype(int)]
    layers, spec = float_layers(model), model.features
    timings = {"sw_float_us": [], "sw_golden_us": []}
    for window in windows:
        start = time.perf_counter_ns()
        float_forward(layers, features_float(window, spec)[-1:])
        middle = time.perf_counter_ns()
        golden.run(model, window)
        end = time.perf_counter_ns()
        timings["sw_float_us"].append((middle - start) / 1e3)
        timings["sw_golden_us"].append((end - middle) / 1e3)
    return timings


def compiled_timings(model, klines, passes: int = COMPILED_PASSES) -> dict:
    """:mod:`sw.spec.compiled` on every kline of the file: each kline alone (ns, timer
    overhead subtracted), the dependent and the independent loop (best of ``passes``), and
    the klines whose outputs differ from :func:`sw.spec.golden.run` (0, or the figures
    are of something else)."""
    reference, expected = compiled.Reference(model), golden.run(model, klines)
    kline_ns = reference.kline_times_ns(klines)
    outputs = reference.outputs
    differ = (outputs.signal != expected.signal) | (outputs.warm != expected.warm) \
        | np.any(outputs.raw != expected.raw, axis=1)
    return {"sw_compiled_ns": kline_ns,
            "sw_compiled_loop_ns": reference.chain_ns(klines, passes),
            "sw_compiled_independent_ns": reference.chain_ns(klines, passes, dependent=False),
            "sw_compiled_timer_overhead_ns": reference.timer_overhead_ns(),
            "sw_compiled_mismatches": int(differ.sum())}


def machine() -> dict:
    """What the software figures were measured on: the CPU, its cores, and the load
    average at the time (other processes slow single klines down)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "load_1min": os.getloadavg()[0]}


def board_clock(build_root: Path, config: str, board: str | None = None) -> dict:
    """``clock_mhz`` (the PLL output the bitstream runs at), ``fmax_mhz`` and
    ``clock_source`` of the newest board build of ``config`` (of ``board``'s builds only,
    when given; a build report of another schema version, or one in a hidden directory,
    where a build stages its new set and keeps the previous one, is not read); a nominal
    clock (fmax unknown) when there is none."""
    reports = []
    for path in Path(build_root).glob(f"{board or '*'}/report.json"):
        if path.parent.name.startswith("."):   # a build's staging or kept previous set
            continue
        try:
            report = json.loads(path.read_text())
            schema.check_version(report, schema.BUILD, str(path))
            clock_mhz = float(report["clock"]["achieved_mhz"])
            fmax_mhz = float(report["fmax_mhz"])
        except (OSError, ValueError, KeyError, TypeError):   # SchemaError is a ValueError
            continue
        if report.get("config", config) == config:
            reports.append((path.stat().st_mtime, path, report, clock_mhz, fmax_mhz))
    if not reports:
        return {"clock_mhz": NOMINAL_CLOCK_MHZ, "fmax_mhz": None,
                "clock_source": f"nominal: no board build of the {config} core in {build_root}"}
    _, path, report, clock_mhz, fmax_mhz = max(reports, key=lambda item: item[0])
    return {"clock_mhz": clock_mhz, "fmax_mhz": fmax_mhz,
            "clock_source": f"PLL output of the {report.get('board', path.parent.name)} "
                            f"build ({path})"}


def declared_timing(core: dict) -> dict:
    """The core's declared timing from its export description. A description without
    ``stage_cycles``, ``latency_cycles_back_to_back`` or ``latency_spacing_cycles`` gets
    the whole core as one stage and a latency that does not depend on spacing
    (``derived`` names what was filled in)."""
    latency = int(core["latency_cycles"])
    timing = {"latency_cycles": latency,
              "latency_cycles_back_to_back": core.get("latency_cycles_back_to_back", latency),
              "latency_spacing_cycles": core.get("latency_spacing_cycles", 1),
              "stage_cycles": core.get("stage_cycles", {"core": latency}),
              "ii": int(core["ii"])}
    derived = [key for key in ("latency_cycles_back_to_back", "latency_spacing_cycles",
                               "stage_cycles") if key not in core]
    return {**timing, "derived": derived}


def summary(values) -> dict:
    values = np.asarray(values, dtype=float)
    return {"min": float(values.min()), "median": float(np.median(values)),
            "max": float(values.max())}


def latency_report(results: dict, timings: dict, clock: dict, about: dict) -> dict:
    """The ``latency.json`` content from bench ``results`` (with the export description
    under ``core``), software ``timings`` (NumPy and compiled) and the ``clock``."""
    declared = declared_timing(results["core"])
    clock_mhz, fmax_mhz = clock["clock_mhz"], clock["fmax_mhz"]
    latency_ns = declared["latency_cycles"] * 1e3 / clock_mhz
    compiled_ns = np.asarray(timings["sw_compiled_ns"], dtype=float)
    sw_compiled = float(np.median(compiled_ns))
    sw_float, sw_golden = (float(np.median(timings[k])) for k in ("sw_float_us", "sw_golden_us"))
    backpressure = summary(results["latency_cycles"])
    return {
        "schema_version": schema.LATENCY,
        **about,
        "klines": results["klines"],
        "outputs": results["outputs"],
        "mismatches": results["mismatches"],
        "first_mismatches": results["first_mismatches"],
        "reset_at_kline": results["reset_at_kline"],
        "discarded_at_reset": results["discarded_at_reset"],
        **{key: value for key, value in declared.items() if key != "derived"},
        "derived_timing_keys": declared["derived"],
        "measured_latency_cycles": summary(results["nostall_latency_cycles"]),
        "measured_ii": results["ii_cycles"],
        "measured_latency_cycles_with_backpressure": backpressure,
        "throughput_klines_per_cycle": results["throughput_klines_per_cycle"],
        "backpressure": {"gap_probability": results["gap_probability"],
                         "stall_probability": results["stall_probability"],
                         "seed": results["seed"]},
        **clock,
        "latency_ns": latency_ns,
        "latency_ns_at_fmax": (declared["latency_cycles"] * 1e3 / fmax_mhz
                               if fmax_mhz else None),
        "measured_latency_ns_with_backpressure": {k: v * 1e3 / clock_mhz
                                                  for k, v in backpressure.items()},
        "hw_throughput_mklines_per_s": clock_mhz / declared["ii"],
        "machine": machine(),
        "sw_compiled_ns": sw_compiled,
        "sw_compiled_p99_ns": float(np.percentile(compiled_ns, 99)),
        "sw_compiled_loop_ns": timings["sw_compiled_loop_ns"],
        "sw_compiled_independent_ns": timings["sw_compiled_independent_ns"],
        "sw_compiled_timer_overhead_ns": timings["sw_compiled_timer_overhead_ns"],
        "sw_compiled_klines": len(compiled_ns),
        "sw_compiled_mismatches": timings["sw_compiled_mismatches"],
        "speedup_vs_sw_compiled": sw_compiled / latency_ns,
        "sw_float_us": sw_float,
        "sw_golden_us": sw_golden,
        "sw_samples": len(timings["sw_float_us"]),
        "speedup_vs_sw_float": sw_float * 1e3 / latency_ns,
        "speedup_vs_sw_golden": sw_golden * 1e3 / latency_ns,
    }


def write(report: dict, results: dict, timings: dict, directory) -> dict:
    """Write ``latency.json``, ``latency.md`` and ``latency.png``; return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {kind: directory / f"latency.{kind}" for kind in ("json", "md", "png")}
    plot(report, results, timings, paths["png"])
    with atomic_write(paths["md"]) as handle:
        handle.write(markdown(report, paths["png"].name))
    with atomic_write(paths["json"]) as handle:
        json.dump(report, handle, indent=1)
    return paths


def ratio(speedup: float) -> str:
    """``"2.4× faster"`` or ``"2.7× slower"``: the hardware against software."""
    factor, word = (speedup, "faster") if speedup >= 1 else (1 / speedup, "slower")
    return f"{factor:,.0f}× {word}" if factor >= 10 else f"{factor:.2f}× {word}"


def headline(r: dict) -> str:
    """One line: the core's latency at the running clock against compiled software."""
    return (f"{r['latency_cycles']} cycles = {r['latency_ns']:.1f} ns at {r['clock_mhz']:.2f} "
            f"MHz vs compiled software {r['sw_compiled_ns']:.0f} ns per kline (median; p99 "
            f"{r['sw_compiled_p99_ns']:.0f} ns): the core is {ratio(r['speedup_vs_sw_compiled'])}")


def simulated(r: dict) -> str:
    """What ran in the simulator, when it was not the exported Verilog."""
    return f" (netlist for {r['board']}, gate by gate)" if r.get("level") == "netlist" else ""


def markdown(r: dict, plot_name: str) -> str:
    measured, bp = r["measured_latency_cycles"], r["backpressure"]
    ns = r["measured_latency_ns_with_backpressure"]
    cycles = r["measured_latency_cycles_with_backpressure"]
    at_fmax = (f"{r['latency_ns_at_fmax']:.1f} ns at fmax {r['fmax_mhz']:.2f} MHz"
               if r["fmax_mhz"] else "fmax unknown without a board build")
    stages = ", ".join(f"{name} {count}" for name, count in r["stage_cycles"].items())
    derived = (f" Not in the core's export description, so derived here: "
               f"{', '.join(r['derived_timing_keys'])} (the whole core as one stage, a "
               f"latency that does not depend on the spacing of klines)."
               if r["derived_timing_keys"] else "")
    lines = [
        (f"# Latency: {r['config']} core{simulated(r)} vs compiled software, "
         f"{r['klines']:,} klines"),
        "",
        f"**{headline(r)}.**",
        "",
        f"Data `{r['data']}`, model `{r['model']}` ({r['scheme']['name']}). Simulated on "
        f"Icarus Verilog with cocotb in {r['simulation_s']:.1f} s: **{r['mismatches']} "
        f"mismatches** against `sw.spec.golden` over {r['outputs']:,} outputs "
        f"({r['discarded_at_reset']} in flight discarded by the reset at kline "
        f"{r['reset_at_kline']}). Backpressure: input idle {bp['gap_probability']:.0%} and "
        f"output stalled {bp['stall_probability']:.0%} of cycles (seed {bp['seed']}).",
        "",
        "| per kline | hardware (simulated) | compiled `sw.spec.compiled` | NumPy "
        "`sw_golden` | NumPy `sw_float` |",
        "|---|---|---|---|---|",
        f"| latency | **{r['latency_ns']:.1f} ns** ({r['latency_cycles']} cycles at "
        f"{r['clock_mhz']:.2f} MHz; {at_fmax}) | **{r['sw_compiled_ns']:.0f} ns** median, "
        f"p99 {r['sw_compiled_p99_ns']:.0f} ns; dependent loop {r['sw_compiled_loop_ns']:.0f} "
        f"ns | {r['sw_golden_us']:.1f} µs median | {r['sw_float_us']:.1f} µs median |",
        f"| the core is | | **{ratio(r['speedup_vs_sw_compiled'])}** | "
        f"{ratio(r['speedup_vs_sw_golden'])} | {ratio(r['speedup_vs_sw_float'])} |",
        f"| throughput | {r['hw_throughput_mklines_per_s']:.2f} M klines/s (II {r['ii']}) | "
        f"{1e3 / r['sw_compiled_loop_ns']:.2f} M klines/s | {1 / r['sw_golden_us']:.3f} M "
        f"klines/s | {1 / r['sw_float_us']:.3f} M klines/s |",
        "",
        "| hardware, cycles | measured | declared |",
        "|---|---|---|",
        f"| latency, no stalls | {fmt(measured)} | {r['latency_cycles']} (klines at least "
        f"{r['latency_spacing_cycles']} cycle{'s' * (r['latency_spacing_cycles'] != 1)} "
        f"apart) |",
        f"| latency, klines back to back | | {r['latency_cycles_back_to_back']} |",
        f"| stages | | {stages} |",
        f"| initiation interval | {r['measured_ii']} | {r['ii']} |",
        f"| latency with backpressure (handshake to handshake) | min {cycles['min']:g}, "
        f"median {cycles['median']:g}, max {cycles['max']:g} ({ns['min']:.0f} / "
        f"{ns['median']:.0f} / {ns['max']:.0f} ns) | |",
        f"| throughput with backpressure | {r['throughput_klines_per_cycle']:.3f} "
        f"klines/cycle | {1 / r['ii']:.3f} at full rate |",
        "",
        f"Clock: {r['clock_mhz']:.2f} MHz, {r['clock_source']}.{derived}",
        "",
        f"Software, on this machine ({r['machine']['cpu']}, {r['machine']['cores']} cores, "
        f"load average {r['machine']['load_1min']:.1f}) in the same run. Compiled: `sw.spec.compiled` (Numba), "
        f"bit-exact with `sw.spec.golden` on every kline of the file "
        f"({r['sw_compiled_mismatches']} differ); each of {r['sw_compiled_klines']:,} klines "
        f"timed alone, minus {r['sw_compiled_timer_overhead_ns']:.0f} ns of timer overhead; "
        f"the loop over the file with each kline's input depending on the previous signal "
        f"takes {r['sw_compiled_loop_ns']:.1f} ns per kline (best pass, thread CPU time), "
        f"{r['sw_compiled_independent_ns']:.1f} ns without that dependency.{slowed(r)} "
        f"NumPy: one "
        f"kline at a time with the history its features need, median of {r['sw_samples']} "
        f"klines; `sw_golden` = the integer golden model incl. integer features, `sw_float` "
        f"= float features + the float network with dequantized weights.",
        "",
        f"![latency distributions]({plot_name})",
        "",
    ]
    return "\n".join(lines)


def slowed(r: dict) -> str:
    """A warning when single klines took much longer than the loop's CPU time: other
    processes were slowing this CPU down, so software looks slower than it is."""
    if r["sw_compiled_ns"] <= SLOWED * r["sw_compiled_loop_ns"]:
        return ""
    return (f" **Single klines took {r['sw_compiled_ns'] / r['sw_compiled_loop_ns']:.1f}× "
            f"the loop's CPU time per kline: other processes were slowing this CPU down "
            f"(load average {r['machine']['load_1min']:.1f}): the compiled software "
            f"figures are too slow and the core's lead over them too large; run again on "
            f"an idle machine.**")


def fmt(stats: dict) -> str:
    if stats["min"] == stats["max"]:
        return f"{stats['min']:g}"
    return f"{stats['min']:g} .. {stats['max']:g}"


def plot(r: dict, results: dict, timings: dict, path: Path) -> None:
    """Per-kline distributions side by side on a log axis: hardware with backpressure,
    compiled software, NumPy golden and float; the declared hardware latency as a line."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    series = [
        (f"hardware\n{r['config']} core,\nwith backpressure",
         np.asarray(results["latency_cycles"], dtype=float) * 1e3 / r["clock_mhz"], "tab:blue"),
        ("compiled\nsw.spec.compiled", np.asarray(timings["sw_compiled_ns"], dtype=float),
         "tab:red"),
        ("NumPy\nsw_golden", np.asarray(timings["sw_golden_us"]) * 1e3, "tab:green"),
        ("NumPy\nsw_float", np.asarray(timings["sw_float_us"]) * 1e3, "tab:orange"),
    ]
    fig, ax = plt.subplots(figsize=(10, 5.5))
    logs = [np.log10(np.maximum(values, 1.0)) for _, values, _ in series]
    parts = ax.violinplot(logs, showextrema=False, widths=0.8)
    for body, (_, _, color) in zip(parts["bodies"], series):
        body.set_facecolor(color)
        body.set_alpha(0.6)
    for x, (label, values, color) in enumerate(series, start=1):
        median, p99 = np.median(values), np.percentile(values, 99)
        ax.plot([x - 0.3, x + 0.3], [np.log10(median)] * 2, color="black")
        ax.annotate(f"median {median:,.0f} ns\np99 {p99:,.0f} ns",
                    (x + 0.32, np.log10(median)), fontsize=8, va="center")
    ax.axhline(np.log10(r["latency_ns"]), color="tab:blue", linestyle="--",
               label=f"core latency, declared {r['latency_cycles']} cycles (measured "
                     f"{fmt(r['measured_latency_cycles'])}) = {r['latency_ns']:.0f} ns at "
                     f"{r['clock_mhz']:.2f} MHz")
    ax.set_xticks(range(1, len(series) + 1), [label for label, _, _ in series])
    low, high = ax.get_ylim()
    ticks = [np.log10(m * 10 ** e) for e in range(int(low) - 1, int(high) + 2) for m in (1, 2, 5)]
    ax.set_yticks([t for t in ticks if low <= t <= high])
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{10 ** y:,.0f}"))
    ax.set_ylabel("latency per kline (ns, log scale)")
    ax.set_title(f"{r['klines']:,} klines, {r['mismatches']} mismatches: the core is "
                 f"{ratio(r['speedup_vs_sw_compiled'])} than compiled software "
                 f"({r['clock_source'].split(':')[0].split(' (')[0]})", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    with atomic_write(path, binary=True) as handle:
        fig.savefig(handle, format="png", dpi=120)
    plt.close(fig)
