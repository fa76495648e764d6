"""The build report: ``report.json`` for machines, ``report.md`` and ``report.png`` for people.

Figures come from nextpnr's ``--report`` JSON (fmax per clock, cells used and available)
and from the core's declared timing (latency, initiation interval): ``latency_ns`` at the
clock the bitstream runs (the PLL output, ``clock_mhz``), ``latency_ns_at_fmax`` beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

#: Report names of the resources people compare, and the nextpnr cell types behind them.
RESOURCE_CELLS = {
    "ecp5": {"LUT": "TRELLIS_COMB", "FF": "TRELLIS_FF", "DSP": "MULT18X18D", "BRAM": "DP16KD"},
    # an iCE40 logic cell is one LUT4 plus one flip-flop: LUT "used" and the LUT and FF
    # "available" are its count; FF "used" is counted from the netlist's SB_DFF* cells
    # (resources() takes FF "used" from the netlist on both families)
    "ice40": {"LUT": "ICESTORM_LC", "FF": "ICESTORM_LC", "DSP": "ICESTORM_DSP",
              "BRAM": "ICESTORM_RAM"},
}
#: Flip-flop cells of the synthesized netlist (iCE40 logic cells do not count them apart).
FLIP_FLOP_PREFIX = {"ecp5": "TRELLIS_FF", "ice40": "SB_DFF"}
SCHEMA_VERSION = 2


def latency(timing: dict, clock_mhz: float, fmax_mhz: float) -> dict:
    """The core's declared timing (:meth:`hw.gateware.core.SignalCore.timing`) with its
    latency in ns at the running clock (``latency_ns``) and at fmax, and the throughput at
    the clock."""
    cycles = timing["latency_cycles"]
    return {**timing, "latency_ns": round(cycles * 1e3 / clock_mhz, 3),
            "latency_ns_at_fmax": round(cycles * 1e3 / fmax_mhz, 3),
            "throughput_mklines_per_s": round(clock_mhz / timing["ii"], 6)}


def resources(family: str, utilization: dict, netlist_ff: int) -> dict:
    """``{LUT, FF, DSP, BRAM: {used, available, cell}}`` from nextpnr's utilisation."""
    table = {}
    for name, cell in RESOURCE_CELLS[family].items():
        entry = utilization.get(cell, {"used": 0, "available": 0})
        used = netlist_ff if name == "FF" else entry["used"]
        table[name] = {"used": used, "available": entry["available"], "cell": cell}
    return table


def timing(fmax: dict) -> dict:
    """Per clock ``{target_mhz, achieved_mhz, met}`` from nextpnr's ``fmax`` section."""
    return {clock: {"target_mhz": round(figures["constraint"], 3),
                    "achieved_mhz": round(figures["achieved"], 3),
                    "met": figures["achieved"] >= figures["constraint"]}
            for clock, figures in fmax.items()}


def write(report: dict, directory) -> dict:
    """Write ``report.json``, ``report.md`` and ``report.png``; return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"json": directory / "report.json", "md": directory / "report.md",
             "png": directory / "report.png"}
    paths["json"].write_text(json.dumps(report, indent=1) + "\n")
    paths["md"].write_text(markdown(report))
    plot(report, paths["png"])
    return paths


def markdown(report: dict) -> str:
    model, clock = report["model"], report["clock"]
    lines = [f"# Build report: {report['board']} ({report['device']})", ""]
    if model["synthetic"]:
        lines += ["> **WARNING: the model was trained on SYNTHETIC klines** (Bybit could not be "
                  "reached); its signals mean nothing for real trading.", ""]
    if not report["timing_met"]:
        consequence = ("no bitstream was written (lower `--clock-mhz`, or pass "
                       "`--allow-timing-failure`)" if report.get("bitstream") is None else
                       "the bitstream was built with `--allow-timing-failure` and may "
                       "misbehave at this clock")
        lines += [f"> **WARNING: timing NOT met**: {consequence}.", ""]
    lines += [
        "| | |", "| --- | --- |",
        f"| configuration | {report['config']} ({report['config_choice']['decided_by']}) |",
        f"| clock | {clock['achieved_mhz']:g} MHz from a {clock['source_mhz']:g} MHz oscillator "
        f"(requested {clock['requested_mhz']:g} MHz) |",
        f"| fmax (nextpnr) | {report['fmax_mhz']:.2f} MHz, target {report['target_mhz']:g} MHz: "
        f"{'met' if report['timing_met'] else 'NOT met'} ({report['placement']}-driven "
        f"placement, seed {report['seed']}) |",
        f"| latency | {report['latency_cycles']} cycles = **{report['latency_ns']:.1f} ns** at "
        f"the {report['clock_mhz']:g} MHz clock ({report['latency_ns_at_fmax']:.1f} ns at fmax); "
        f"{stages(report)}; {spacing(report)} |",
        f"| initiation interval | {report['ii']} cycles "
        f"({report['throughput_mklines_per_s']:.3g} M klines/s at the clock) |",
        f"| bitstream | `{report['bitstream']}` |",
        f"| model | `{model['path']}`: {model['scheme']}, layers {model['layers']}, "
        f"{'SYNTHETIC data' if model['synthetic'] else 'real data'} |",
        "", "## Resources", "", "| resource | used | available | % | nextpnr cell |",
        "| --- | ---: | ---: | ---: | --- |"]
    for name, entry in report["resources"].items():
        lines.append(f"| {name} | {entry['used']} | {entry['available']} | "
                     f"{percent(entry):.1f} | {entry['cell']} |")
    lines += ["", "## Steps", "", "| step | seconds |", "| --- | ---: |"]
    lines += [f"| {step} | {seconds:.1f} |" for step, seconds in report["steps_s"].items()]
    lines += [f"| **total** | **{sum(report['steps_s'].values()):.1f}** |", ""]
    if len(report["placements"]) > 1:
        lines += ["## Placements", "",
                  "Run side by side; the first placement to meet timing is kept.", ""]
        lines += [f"- {run['placement']}-driven, seed {run['seed']}: {placement_outcome(run)}"
                  for run in report["placements"]]
        lines.append("")
    if len(report["config_choice"]["attempts"]) > 1:
        lines += ["## Configuration attempts", ""]
        lines += [f"- {a['config']}: {a['outcome']}" for a in report["config_choice"]["attempts"]]
        lines.append("")
    return "\n".join(lines)


def stages(report: dict) -> str:
    return "stages: " + ", ".join(f"{name} {cycles}"
                                  for name, cycles in report["stage_cycles"].items())


def spacing(report: dict) -> str:
    if report["latency_cycles_back_to_back"] == report["latency_cycles"]:
        return "the same for klines back to back"
    return (f"for klines at least {report['latency_spacing_cycles']} cycles apart; "
            f"{report['latency_cycles_back_to_back']} cycles back to back")


def placement_outcome(run: dict) -> str:
    if "stopped_after_s" in run:
        return f"stopped after {run['stopped_after_s']:.1f} s"
    if "error" in run:
        return run["error"]
    return (f"fmax {run['fmax_mhz']:.2f} MHz, timing {'met' if run['timing_met'] else 'NOT met'}"
            f", {run['seconds']:.1f} s" + (" (kept)" if run.get("kept") else ""))


def percent(entry: dict) -> float:
    return 100 * entry["used"] / entry["available"] if entry["available"] else 0.0


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (usage, clocks) = pyplot.subplots(1, 2, figsize=(9, 3.2),
                                              gridspec_kw={"width_ratios": [2, 1]})
    names = list(report["resources"])
    usage.barh(names, [percent(report["resources"][n]) for n in names], color="tab:blue")
    usage.set_xlim(0, 100)
    usage.set_xlabel("% of device used")
    usage.invert_yaxis()
    clocks.bar(["target", "fmax"], [report["target_mhz"], report["fmax_mhz"]],
               color=["tab:gray", "tab:green" if report["timing_met"] else "tab:red"])
    clocks.set_ylabel("MHz")
    title = f"{report['board']} {report['device']}, {report['config']} core"
    if report["model"]["synthetic"]:
        title += " (SYNTHETIC-data model)"
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
