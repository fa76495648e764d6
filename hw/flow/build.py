"""The build flow: a bitstream for a board from a model artifact, with its report.

Steps, each timed: elaborate (Amaranth), rtlil, synthesis (Yosys), place_and_route
(nextpnr, with ``--report`` for fmax, utilisation and critical paths; the placement race
of :mod:`hw.flow.placement`), packing (ecppack / icepack). ``config="auto"`` builds the
fully parallel core, and falls back to the folded one when place and route finds the
device too small. Output in ``<out>/<board>/``: ``trader.bit``, the report
(:mod:`hw.flow.report`) and the tool logs, built beside it and swapped in as one set only
when the build succeeds (:func:`sw.spec.files.staged_directory`): an interrupted or failed
build leaves the previous set whole, and a build that misses timing leaves its own report
and logs in ``<out>/<board>/failed/``. The flow needs a model artifact and nothing
else from ``sw``; ``python -m hw.build`` is its command line (and trains a model when
there is none).

Amaranth's own build overrides from the environment (``AMARANTH_synth_opts``,
``AMARANTH_script_after_read``, ``AMARANTH_nextpnr_opts``, ...) are merged after the
flow's options of the same name, where Amaranth alone would let them replace the flow's.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.hdl import Fragment

from hw.board.boards import Board, BoardTop
from hw.board.uart import bit_cycles
from hw.flow import report as build_report
from hw.flow.placement import DoesNotFit, Placed, default_placements, place_and_route
from hw.flow.toolchain import BuildError, Progress, configure, run_tool, versions
from hw.gateware.core import CONFIGS
from sw.spec import artifact, schema
from sw.spec.files import staged_directory

DESIGN = "trader"
#: Configurations ``config="auto"`` tries: every named one, fastest first.
AUTO_ORDER = tuple(CONFIGS)
#: Yosys, right after reading the design: a register whose output wire has the ``keep``
#: attribute (Amaranth puts a Signal's ``attrs`` on its wire) is kept as it is. Identical
#: registers are merged otherwise, whatever their wires say (the copies of the one-hot
#: remainder select in :class:`hw.gateware.quotient.FeatureQuotient` rely on it).
KEEP_REGISTERS = "setattr -set keep 1 a:keep %ci1:+$dff[Q] t:$dff %i"
#: nextpnr options the flow sets itself, and what to use instead of putting them in
#: ``$AMARANTH_nextpnr_opts``.
OWN_NEXTPNR_OPTIONS = {"--report": "the build reads the report it asks for",
                       "--seed": "use --seed", "--no-tmdriv": "use --placement wirelength",
                       "--placer": "use --placement static or timing"}


@dataclass
class Options:
    """What to build. ``placements`` (:data:`hw.flow.placement.PLACEMENTS`) and ``seeds``:
    every pair is one nextpnr run, side by side; ``progress`` receives the progress lines
    (none by default)."""
    board: Board
    device: str
    model: Path
    config: str = "auto"
    clock_mhz: float | None = None
    baud: int = 115200
    allow_timing_failure: bool = False
    keep_files: bool = False
    out: Path = Path("build")
    placements: tuple = field(default_factory=lambda: default_placements())
    seeds: tuple = (1,)
    progress: Callable[[str], None] = field(default=lambda line: None, repr=False)

    def __post_init__(self):
        # each placement and seed once: a run has a directory of its own
        self.placements = tuple(dict.fromkeys(self.placements))
        self.seeds = tuple(dict.fromkeys(self.seeds))

    @property
    def directory(self) -> Path:
        return self.out / self.board.name

    @property
    def bitstream(self) -> Path:
        """The bitstream, ``.bit`` on every board (on iCE40 a copy of icepack's ``.bin``)."""
        return self.directory / f"{DESIGN}.bit"

    @property
    def packed(self) -> Path:
        """The packer's own bitstream file, the one a programmer loads."""
        return self.directory / f"{DESIGN}{self.board.bitstream_suffix}"

    @property
    def model_file(self) -> Path:
        return self.model if self.model.suffix == ".json" else self.model / "model.json"

    @property
    def configs(self) -> tuple:
        """The configurations to try, in order."""
        return AUTO_ORDER if self.config == "auto" else (self.config,)

    def requested_mhz(self, config: str) -> float:
        """The design clock asked for: ``clock_mhz``, else the board's default for the
        core configuration ``config``."""
        return self.board.clock_mhz[config] if self.clock_mhz is None else self.clock_mhz


@dataclass
class Target:
    """What a build runs on, found before any work: the platform, the PLL that makes
    the clock for each configuration to try, the tools' paths and the Amaranth overrides
    of the plan."""
    platform: object
    plls: dict
    tools: dict
    overrides: dict


@dataclass
class Attempt:
    """One run of the flow for one core configuration."""
    config: str
    workdir: Path
    pll: object = None
    core: object = None
    steps_s: dict = field(default_factory=dict)
    #: the tool commands of Amaranth's build plan: synthesis, place and route, packing
    commands: list = field(default_factory=list)
    placed: Placed | None = None


def target(options: Options) -> Target:
    """Check everything that can be checked before training or synthesis: the device
    (:class:`hw.board.boards.BoardError`), the clock (:class:`hw.board.pll.PllError`),
    the baud rate (:class:`hw.board.uart.BaudRateError`), the tools
    (:class:`hw.flow.toolchain.ToolchainError`) and Amaranth's overrides (:class:`BuildError`)."""
    board = options.board
    platform = board.platform(options.device)
    plls = {config: board.pll(platform, options.requested_mhz(config) * 1e6)
            for config in options.configs}
    for pll in plls.values():
        bit_cycles(pll.output_hz, options.baud)
    tools = configure(board.tools)
    own = {**synthesis_overrides(board),
           "nextpnr_opts": ["--report", "nextpnr.json", "--timing-allow-fail",
                            "--seed", str(options.seeds[0])]}
    return Target(platform, plls, tools, overrides(own))


def synthesis_overrides(board) -> dict:
    """The Amaranth overrides of a board's Yosys script: register keeping
    (:data:`KEEP_REGISTERS`) and the board's own options (``synth_ice40 -dsp``, ...)."""
    return {"script_after_read": KEEP_REGISTERS, **board.toolchain_opts}


def overrides(own: dict) -> dict:
    """The flow's Amaranth overrides ``own`` with the user's ``$AMARANTH_<name>`` of the
    same names merged in after them; a nextpnr option the flow sets itself is refused."""
    merged = dict(own)
    for name, value in own.items():
        theirs = os.environ.get(f"AMARANTH_{name}")
        if theirs is None:
            continue
        if name == "nextpnr_opts":
            for option, instead in OWN_NEXTPNR_OPTIONS.items():
                if option in shlex.split(theirs):
                    raise BuildError(f"$AMARANTH_nextpnr_opts: hw.build sets {option} "
                                     f"itself ({instead}); take it out of the variable")
        ours = value if isinstance(value, str) else " ".join(value)
        merged[name] = ("\n" if name.startswith("script") else " ").join([ours, theirs])
    return merged


@contextlib.contextmanager
def without_environment(names):
    """Hide ``$AMARANTH_<name>`` of each name (Amaranth would prefer it to the merged value)."""
    saved = {name: os.environ.pop(f"AMARANTH_{name}") for name in names
             if f"AMARANTH_{name}" in os.environ}
    try:
        yield
    finally:
        for name, value in saved.items():
            os.environ[f"AMARANTH_{name}"] = value


def build(options: Options, core_factory=None, *, trained_now: bool = False) -> dict:
    """Run the whole flow on the artifact at ``options.model``; return the report.
    ``core_factory(model, *, config, clk_freq, baud)`` makes the board-independent core
    (default :class:`hw.board.top.LinkedCore`); ``trained_now`` goes into the report."""
    found = target(options)
    if core_factory is None:
        from hw.board.top import LinkedCore as core_factory
    model = artifact.load(options.model_file)
    tools = versions(found.tools)
    # the bitstream, the report and the logs replace the previous set together, only
    # when the build succeeds: an interrupted or failed build leaves that set whole
    with staged_directory(options.directory) as staging:
        attempt, result = place(options, found, model, core_factory, tools, trained_now,
                                staging)
        pack(attempt, options, staging, result)
        build_report.write(result, staging)
    return result


def place(options: Options, found: Target, model, core_factory, tools: dict,
          trained_now: bool, staging: Path) -> tuple[Attempt, dict]:
    """Every configuration asked for until one fits, in ``staging/work``; the attempt kept
    and its report. A build that misses timing (unless ``allow_timing_failure``) leaves its
    report and logs in ``<board>/failed/`` and raises :class:`BuildError`."""
    configs = options.configs
    outcomes = []
    for config in configs:
        attempt = Attempt(config, staging / "work", found.plls[config])
        try:
            run_flow(attempt, options, found, model, core_factory)
        except DoesNotFit as error:
            outcomes.append({"config": config, "outcome": f"does not fit: {error}",
                             "seconds": round(sum(attempt.steps_s.values()), 2)})
            options.progress(f"{config} core does not fit {found.platform.device}: {error}")
            if config == configs[-1]:
                hint = "; try --config folded" if config != AUTO_ORDER[-1] else ""
                raise BuildError(f"{config} core does not fit {found.platform.device}: "
                                 f"{error}{hint}") from None
            continue
        outcomes.append({"config": config, "outcome": "fits",
                         "seconds": round(sum(attempt.steps_s.values()), 2)})
        break
    decided_by = ("requested with --config" if options.config != "auto" else
                  "auto: first configuration (fastest first) that place and route fitted "
                  "in the device")
    result = build_report.make_report(
        attempt=attempt, options=options, target=found, model=model, trained_now=trained_now,
        tools=tools, config_choice={"requested": options.config, "decided_by": decided_by,
                       "attempts": outcomes},
        flip_flops=netlist_flip_flops(attempt.workdir,
                                      build_report.FLIP_FLOP_PREFIX[options.board.family]))
    if not result["timing_met"] and not options.allow_timing_failure:
        result["bitstream"] = None
        failed = options.directory / "failed"
        with staged_directory(failed) as directory:
            logs(attempt.workdir, directory)
            build_report.write(result, directory)
        raise BuildError(f"timing not met: fmax {result['fmax_mhz']:.2f} MHz < "
                         f"{result['target_mhz']:g} MHz ({' and '.join(options.placements)} "
                         f"placement, seed {', '.join(map(str, options.seeds))}; lower "
                         f"--clock-mhz, try other --seed values, or pass "
                         f"--allow-timing-failure); no bitstream written, the previous build "
                         f"kept; this one's report and logs in {failed}")
    return attempt, result


def run_flow(attempt: Attempt, options: Options, found: Target, model, core_factory):
    """Elaborate, convert, synthesize, place and route (not pack: timing decides that)."""
    placing = synthesize(attempt, options, found, model, core_factory)
    with step(attempt, "place_and_route", options.progress) as progress:
        attempt.placed = place_and_route(placing, attempt.workdir, options.placements,
                                         options.seeds, progress)


def synthesize(attempt: Attempt, options: Options, found: Target, model,
               core_factory) -> list:
    """Elaborate, convert and synthesize; return the place-and-route command of the plan."""
    board = options.board
    # a fresh platform per attempt: a platform's pins can be requested by one design only
    platform = board.platform(options.device)
    if attempt.workdir.exists():
        shutil.rmtree(attempt.workdir)
    options.progress(f"building the {attempt.config} core for {board.name} {platform.device} "
                     f"at {attempt.pll.output_hz / 1e6:g} MHz")
    with step(attempt, "elaborate", options.progress):
        attempt.core = core_factory(model, config=attempt.config, clk_freq=attempt.pll.output_hz,
                                    baud=options.baud)
        fragment = Fragment.get(BoardTop(attempt.core, board.family, attempt.pll), platform)
    with step(attempt, "rtlil", options.progress):
        with without_environment(found.overrides):
            plan = platform.prepare(fragment, DESIGN, **found.overrides)
        plan.extract(str(attempt.workdir))
    attempt.commands = json.loads(
        (attempt.workdir / f"build_{DESIGN}.json").read_text())["commands"]
    synthesis, placing, _ = attempt.commands
    with step(attempt, "synthesis", options.progress) as progress:
        run_tool(synthesis, attempt.workdir, f"{DESIGN}.rpt", progress)
    return placing


def pack(attempt: Attempt, options: Options, directory: Path, result: dict):
    """Write the bitstream, and move it, the logs and nextpnr's report out of ``work/``
    into ``directory`` (the set that becomes ``options.directory``)."""
    with step(attempt, "packing", options.progress) as progress:
        run_tool(attempt.commands[2], attempt.workdir, None, progress)
    result["steps_s"] = dict(attempt.steps_s)
    for name in (f"{DESIGN}.bit", f"{DESIGN}.bin", f"{DESIGN}.svf"):
        if (attempt.workdir / name).exists():
            shutil.copy(attempt.workdir / name, directory / name)
    if options.packed != options.bitstream:
        # iCE40 bitstreams are .bin; the .bit twin keeps one name across boards
        shutil.copy(directory / options.packed.name, directory / options.bitstream.name)
    logs(attempt.workdir, directory)
    if not options.keep_files:
        shutil.rmtree(attempt.workdir)


def logs(workdir: Path, directory: Path):
    """The tools' logs and nextpnr's report, from ``workdir`` into ``directory``."""
    shutil.copy(workdir / f"{DESIGN}.rpt", directory / "yosys.log")
    shutil.copy(workdir / f"{DESIGN}.tim", directory / "nextpnr.log")
    shutil.copy(workdir / "nextpnr.json", directory / "nextpnr.json")


@contextlib.contextmanager
def step(attempt: Attempt, name: str, say):
    """Time one step into ``attempt.steps_s``; its progress lines go to ``say``."""
    say(f"  {name} ...")
    progress = Progress(say, name)
    failed = True
    try:
        yield progress
        failed = False
    finally:
        attempt.steps_s[name] = round(progress.elapsed, 2)
        say(f"  {name} {'FAILED' if failed else 'done'} in {progress.elapsed:.1f} s")


def netlist_flip_flops(workdir: Path, prefix: str) -> int:
    netlist = json.loads((workdir / f"{DESIGN}.json").read_text())
    return sum(cell["type"].startswith(prefix) for module in netlist["modules"].values()
               for cell in module["cells"].values())


def up_to_date(options: Options) -> dict | None:
    """The report of the bitstream in ``options.directory`` when it was built from the
    same model file with the same device, configuration, clock and baud rate asked for;
    else ``None`` (no such build, another request, or a report of another schema)."""
    try:
        report = json.loads((options.directory / "report.json").read_text())
        schema.check_version(report, schema.BUILD, "report.json")
        model = hashlib.sha256(options.model_file.read_bytes()).hexdigest()
        config = report["config"]
        asked = (options.board.platform(options.device).device, options.config,
                 options.requested_mhz(config), options.baud, model)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    built = (report.get("device"), report.get("config_choice", {}).get("requested"),
             report.get("clock", {}).get("requested_mhz"), report.get("baud"),
             report.get("model", {}).get("sha256"))
    if asked != built or not report.get("bitstream") or not options.packed.is_file():
        return None
    return report
