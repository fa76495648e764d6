"""The placement race: nextpnr once per placement and seed, side by side, the first to meet
timing kept.

nextpnr runs on one core. Three kinds of placement (:data:`PLACEMENTS`): ``timing``,
nextpnr's analytic placer HeAP driven by timing (the best fmax, the slowest); ``static``,
its electrostatic placer, timing-driven too (a little lower fmax, far less time: less
wirelength to refine and route); ``wirelength``, HeAP driven by wirelength alone (faster
than ``timing``, the lowest fmax; nextpnr still checks its timing). Place and route races
one kind per core, in that order, and keeps the first that meets timing; when none does,
the highest fmax once all have ended.
A run that finds the design larger than the device stops them all (:class:`DoesNotFit`).
The README gives measured times and fmax of each.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from hw.flow import report
from hw.flow.toolchain import (
    BuildError,
    Progress,
    find_tool,
    tied_to_this_process,
    tool_error,
)

#: nextpnr's placements and their options, in the order the race takes them, one per core.
PLACEMENTS = {"timing": [], "static": ["--placer", "static"], "wirelength": ["--no-tmdriv"]}
#: A nextpnr utilisation line: ``Info:      ICESTORM_LC:  36787/  5280   696%``.
UTILISATION_LINE = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+(\d+)%", re.MULTILINE)


class DoesNotFit(BuildError):
    """Place and route found more cells than the device has."""


def default_placements(cores: int | None = None) -> tuple:
    """The first ``cores`` of :data:`PLACEMENTS` (the cores this process may run on): the
    timing-driven placement alone on one core, ``static`` beside it on two, ``wirelength``
    as well on three or more."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
            os.cpu_count() or 1
    return tuple(PLACEMENTS)[:cores]


@dataclass
class Run:
    """One nextpnr run: its placement and seed, process and directory, and how it ended."""
    placement: str
    seed: int
    directory: Path
    args: list
    process: subprocess.Popen
    outcome: dict = field(default_factory=dict)
    nextpnr: dict | None = None

    def file(self, option: str) -> Path:
        """The file nextpnr's ``option`` (``--log``, ``--report``) names."""
        return self.directory / self.args[self.args.index(option) + 1]

    def __str__(self) -> str:
        return f"{self.placement} placement seed {self.seed}"


@dataclass
class Placed:
    """What the race kept (``kept``: placement and seed), nextpnr's report of it, and what
    became of every run (report.json ``placements``)."""
    kept: tuple
    nextpnr: dict
    placements: list


def place_and_route(command: list, workdir: Path, placements, seeds,
                    progress: Progress) -> Placed:
    """nextpnr (``command``, as Amaranth's plan has it) once per placement and seed, side
    by side, each in a directory of its own (the work directory itself for a single run).
    The kept run's log, report and placed design end up in ``workdir``."""
    start = time.monotonic()
    pairs = [(placement, seed) for seed in seeds for placement in placements]
    runs = []
    try:
        for placement, seed in pairs:
            directory = workdir / f"{placement}_{seed}" if len(pairs) > 1 else workdir
            directory.mkdir(exist_ok=True)
            args = [*with_seed(command[1:], seed), *PLACEMENTS[placement]]
            # the plan names its input files relative to the work directory
            argv = [find_tool(command[0]), *(os.path.relpath(workdir / arg, directory)
                                             if (workdir / arg).is_file() else arg
                                             for arg in args)]
            with open(directory / "place_and_route.out", "w") as output:
                runs.append(Run(placement, seed, directory, argv, subprocess.Popen(
                    argv, cwd=directory, stdout=output, stderr=subprocess.STDOUT,
                    preexec_fn=tied_to_this_process())))
        if len(runs) > 1:
            progress.say(f"    {', '.join(map(str, runs))} side by side")
        kept = None
        while kept is None and any(run.process.returncode is None for run in runs):
            time.sleep(0.1)
            for run in runs:
                if run.process.returncode is None and run.process.poll() is not None:
                    finish(run, round(time.monotonic() - start, 2), progress, len(runs) > 1)
                    if run.outcome.get("timing_met"):
                        kept = run
                        break
            running = [str(run) for run in runs if run.process.returncode is None]
            if kept is None and running:
                progress.tick(f"{', '.join(running)} still running")
    finally:
        for run in runs:
            if run.process.poll() is None:
                run.process.kill()
                run.process.wait()
                run.outcome = {"stopped_after_s": round(time.monotonic() - start, 2)}
    placed = [run for run in runs if run.nextpnr is not None]
    if kept is None and not placed:
        raise BuildError(runs[0].outcome["error"])
    kept = kept or max(placed, key=lambda run: run.outcome["fmax_mhz"])
    if len(runs) > 1:
        for path in kept.directory.iterdir():
            os.replace(path, workdir / path.name)
        stopped = [str(run) for run in runs if "stopped_after_s" in run.outcome]
        progress.say(f"    {kept} kept" + (f"; {', '.join(stopped)} stopped" if stopped else ""))
    kept.outcome["kept"] = True
    return Placed((kept.placement, kept.seed), kept.nextpnr,
                  [{"placement": run.placement, "seed": run.seed, **run.outcome} for run in runs])


def finish(run: Run, seconds: float, progress: Progress, show: bool):
    """Record how ``run`` ended: its fmax and whether timing is met, or its error."""
    if run.process.returncode != 0:
        text = (run.directory / "place_and_route.out").read_text(errors="replace")
        log = run.file("--log")
        if log.exists():
            text += log.read_text(errors="replace")
        if overused := over_capacity(text):
            raise DoesNotFit(overused)
        run.outcome = {"error": tool_error("nextpnr", text, run.process.returncode,
                                           run.directory), "seconds": seconds}
        if show:
            progress.say(f"    {run}: {run.outcome['error']}")
        return
    run.nextpnr = json.loads(run.file("--report").read_text())
    clocks = report.timing(run.nextpnr["fmax"])
    run.outcome = {"fmax_mhz": min(clock["achieved_mhz"] for clock in clocks.values()),
                   "timing_met": all(clock["met"] for clock in clocks.values()),
                   "seconds": seconds}
    if show:
        progress.say(f"    {run}: fmax {run.outcome['fmax_mhz']:.2f} MHz, timing "
                     f"{'met' if run.outcome['timing_met'] else 'NOT met'}, {seconds:.1f} s")


def with_seed(args: list, seed: int) -> list:
    """nextpnr's arguments with ``--seed seed``."""
    args = list(args)
    if "--seed" in args:
        args[args.index("--seed") + 1] = str(seed)
        return args
    return [*args, "--seed", str(seed)]


def over_capacity(nextpnr_log: str) -> str:
    """``"ICESTORM_LC 36787/5280 (696%)"`` for each over-used cell type, or ``""``."""
    return ", ".join(f"{cell} {used}/{available} ({percent}%)"
                     for cell, used, available, percent in UTILISATION_LINE.findall(nextpnr_log)
                     if int(used) > int(available))
