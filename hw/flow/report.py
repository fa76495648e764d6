"""The build report: ``report.json`` for machines (keys in :mod:`sw.spec.schema`),
``report.md`` and ``report.png`` for people.

Figures come from nextpnr's ``--report`` JSON (fmax per clock, cells used and available,
critical paths), from the core's declared timing (latency, initiation interval):
``latency_ns`` at the clock the bitstream runs (the PLL output, ``clock_mhz``),
``latency_ns_at_fmax`` beside it, and from the tools themselves (versions).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sw.spec import schema

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


def make_report(*, attempt, options, target, model, trained_now: bool, tools: dict,
                config_choice: dict, flip_flops: int) -> dict:
    """The report of a build: ``attempt`` (:class:`hw.flow.build.Attempt`) is the
    configuration that fitted, ``options`` (:class:`hw.flow.build.Options`) what was asked,
    ``target`` (:class:`hw.flow.build.Target`) the platform and PLL it ran on, ``model``
    the artifact read from ``options.model_file``, ``tools``
    :func:`hw.flow.toolchain.versions`, ``flip_flops`` counted in the synthesized netlist."""
    platform, pll, model_path = target.platform, attempt.pll, options.model_file
    nextpnr = attempt.placed.nextpnr
    clocks = timing(nextpnr["fmax"])
    fmax = min(clock["achieved_mhz"] for clock in clocks.values())
    target_mhz = max(clock["target_mhz"] for clock in clocks.values())
    clock_mhz = pll.output_hz / 1e6
    core, board = attempt.core, options.board
    meta = model.meta
    return {
        "schema_version": schema.BUILD,
        "board": board.name,
        "device": platform.device,
        "package": platform.package,
        "config": attempt.config,
        "config_choice": config_choice,
        "clock": {"source_mhz": platform.default_clk_frequency / 1e6,
                  "requested_mhz": options.requested_mhz(attempt.config),
                  "achieved_mhz": round(clock_mhz, 6), "pll": pll_settings(pll)},
        "baud": options.baud,
        "clock_mhz": round(clock_mhz, 6),
        "fmax_mhz": fmax,
        "target_mhz": target_mhz,
        "placement": attempt.placed.kept[0],
        "seed": attempt.placed.kept[1],
        "placements": attempt.placed.placements,
        "clocks": clocks,
        "timing_met": all(clock["met"] for clock in clocks.values()),
        "critical_path": critical_path(nextpnr.get("critical_paths", [])),
        "resources": resources(board.family, nextpnr["utilization"], flip_flops),
        **latency(core.timing(), clock_mhz, fmax),
        "steps_s": dict(attempt.steps_s),
        "bitstream": str(options.bitstream),
        "model": {"path": str(model_path),
                  "sha256": hashlib.sha256(Path(model_path).read_bytes()).hexdigest(),
                  "trained_now": trained_now,
                  "scheme": schema.scheme(meta.get("scheme", "unknown")),
                  "synthetic": bool(meta.get("data", {}).get("synthetic", False)),
                  "layers": [model.layers[0].inputs, *(l.outputs for l in model.layers)],
                  "weight_bits": sorted({l.weight_bits for l in model.layers})},
        "tools": tools,
    }


def pll_settings(pll) -> dict:
    fields = {name: getattr(pll, name) for name in pll.__dataclass_fields__
              if name != "input_hz"}
    return {**fields, "vco_mhz": round(pll.vco_hz / 1e6, 6),
            "pfd_mhz": round(pll.pfd_hz / 1e6, 6)}


def critical_path(paths: list) -> dict | None:
    """The longest register-to-register path of nextpnr's ``critical_paths`` (one per
    pair of clocks; paths to or from a pin, ``<async>``, are left out): where it starts
    and ends (``cell.port``), its clock, and its delay split into logic (cells, clock to
    output, setup) and routing."""
    clocked = [path for path in paths if "<async>" not in (path["from"], path["to"])]
    if not clocked:
        return None
    worst = max(clocked, key=lambda path: sum(step["delay"] for step in path["path"]))
    steps = worst["path"]
    routing = sum(step["delay"] for step in steps if step["type"] == "routing")
    logic = sum(step["delay"] for step in steps if step["type"] != "routing")
    start, end = steps[0]["from"], steps[-1]["to"]
    return {"from": f"{start['cell']}.{start['port']}", "to": f"{end['cell']}.{end['port']}",
            "clock": worst["from"] if worst["from"] == worst["to"] else
            f"{worst['from']} -> {worst['to']}",
            "delay_ns": round(logic + routing, 3), "logic_ns": round(logic, 3),
            "routing_ns": round(routing, 3)}


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
        f"| model | `{model['path']}`: {model['scheme']['name']}, layers {model['layers']}, "
        f"{'SYNTHETIC data' if model['synthetic'] else 'real data'} |",
        f"| tools | {tool_versions(report['tools'])} |",
        "", "## Resources", "", "| resource | used | available | % | nextpnr cell |",
        "| --- | ---: | ---: | ---: | --- |"]
    for name, entry in report["resources"].items():
        lines.append(f"| {name} | {entry['used']} | {entry['available']} | "
                     f"{percent(entry):.1f} | {entry['cell']} |")
    if path := report["critical_path"]:
        lines += ["", "## Critical path", "",
                  f"{path['delay_ns']:.2f} ns ({path['logic_ns']:.2f} ns logic, "
                  f"{path['routing_ns']:.2f} ns routing) on `{path['clock']}`, from "
                  f"`{path['from']}` to `{path['to']}`."]
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


def tool_versions(tools: dict) -> str:
    return ", ".join(f"{name} {entry['version'] or '(version unknown)'}"
                     for name, entry in tools.items())


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
