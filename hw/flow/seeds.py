"""Does a clock meet timing whatever the placement? One netlist, every placement kind and
seed (``python -m hw.seeds`` is its command line).

Synthesizes the board build once (:func:`hw.flow.build.synthesize`), then places and
routes it with each of ``options.placements`` (:data:`hw.flow.placement.PLACEMENTS`:
HeAP timing-driven, the electrostatic placer, HeAP wirelength-driven) and each seed, one
run at a time, so each run's time is its own. Writes ``seeds.json`` and ``seeds.md`` under
``--out``: per run fmax, whether timing is met and the seconds it took, with the machine's
load average beside them (other work on the machine slows the runs). A bench, not a test:
each run of a ULX3S-85F build takes minutes.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from hw.flow import build, placement
from hw.flow.toolchain import Progress, versions
from sw.spec import artifact
from sw.spec.files import atomic_write

SCHEMA_VERSION = 1
SEEDS = (1, 2, 3)


def bench(options: build.Options, core_factory=None) -> dict:
    """Synthesize once, then every placement and seed alone; return the table's content.
    Progress lines go to ``options.progress``."""
    say = options.progress
    found = build.target(options)
    tools = versions(found.tools)
    if core_factory is None:
        from hw.board.top import LinkedCore as core_factory
    model = artifact.load(options.model_file)
    attempt = build.Attempt(options.config, options.directory / "work",
                            found.plls[options.config])
    load_before = os.getloadavg()[0]
    placing = build.synthesize(attempt, options, found, model, core_factory)
    runs = []
    for kind in options.placements:
        for seed in options.seeds:
            say(f"  place and route: {kind} placement, seed {seed}")
            progress = Progress(say, f"{kind} seed {seed}")
            try:
                placed = placement.place_and_route(placing, attempt.workdir, (kind,), (seed,),
                                                   progress)
                outcome = {key: value for key, value in placed.placements[0].items()
                           if key != "kept"}
            except placement.DoesNotFit:
                raise
            except build.BuildError as error:
                outcome = {"placement": kind, "seed": seed, "error": str(error)}
            runs.append({**outcome, "load_average": round(os.getloadavg()[0], 2)})
            say(f"    {build_outcome(runs[-1])}")
    shutil.rmtree(attempt.workdir)
    placed = [run for run in runs if "fmax_mhz" in run]
    return {
        "schema_version": SCHEMA_VERSION,
        "board": options.board.name, "device": found.platform.device,
        "config": options.config, "clock_mhz": round(attempt.pll.output_hz / 1e6, 6),
        "model": str(options.model_file),
        "latency_cycles": attempt.core.timing()["latency_cycles"],
        "synthesis_s": attempt.steps_s["synthesis"],
        "runs": runs,
        "all_met": len(placed) == len(runs) and all(run["timing_met"] for run in runs),
        "min_fmax_mhz": min((run["fmax_mhz"] for run in placed), default=None),
        "load_average_before": round(load_before, 2),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else
        os.cpu_count(),
        "tools": tools,
    }


def build_outcome(run: dict) -> str:
    if "error" in run:
        return f"{run['placement']} seed {run['seed']}: {run['error']}"
    return (f"{run['placement']} seed {run['seed']}: fmax {run['fmax_mhz']:.2f} MHz, "
            f"{'met' if run['timing_met'] else 'NOT met'}, {run['seconds']:.1f} s")


def markdown(table: dict) -> str:
    lines = [f"# Placement seeds: {table['board']} {table['device']}, {table['config']} core "
             f"at {table['clock_mhz']:g} MHz", "",
             f"Model `{table['model']}`, latency {table['latency_cycles']} cycles; one "
             f"netlist (synthesis {table['synthesis_s']:.1f} s), each run alone on a "
             f"{table['cores']}-core machine, load average {table['load_average_before']:g} "
             "before the first.", "",
             "| placement | seed | fmax (MHz) | timing | seconds | load average after |",
             "| --- | ---: | ---: | --- | ---: | ---: |"]
    for run in table["runs"]:
        if "error" in run:
            lines.append(f"| {run['placement']} | {run['seed']} | - | {run['error']} | - | "
                         f"{run['load_average']:g} |")
            continue
        lines.append(f"| {run['placement']} | {run['seed']} | {run['fmax_mhz']:.2f} | "
                     f"{'met' if run['timing_met'] else '**NOT met**'} | "
                     f"{run['seconds']:.1f} | {run['load_average']:g} |")
    verdict = "every run met timing" if table["all_met"] else "**not every run met timing**"
    lines += ["", f"{verdict}; lowest fmax {table['min_fmax_mhz']} MHz.", ""]
    return "\n".join(lines)


def write(table: dict, directory: Path) -> dict:
    paths = {"json": directory / "seeds.json", "md": directory / "seeds.md"}
    with atomic_write(paths["json"]) as handle:
        json.dump(table, handle, indent=1)
    with atomic_write(paths["md"]) as handle:
        handle.write(markdown(table))
    return paths
