"""Build Verilog with Icarus and run a cocotb test module on it, through ``cocotb_tools.runner``.

One build directory per design configuration (``build/sim/<config>/``), so runs of
different configurations (and pytest-xdist workers) never share files. The bench's settings
travel to the cocotb module as a JSON file named by the ``SIM_BENCH`` environment variable;
the bench writes what it measured to the ``results`` path given in those settings.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from cocotb_tools.check_results import get_results
from cocotb_tools.runner import Icarus

from hw.flow.toolchain import die_with

ROOT = Path(__file__).resolve().parents[1]
#: Time unit and precision of the simulation; the benches clock at :data:`CLOCK_NS`.
TIMESCALE = ("1ns", "1ps")
CLOCK_NS = 10
BENCH_ENV = "SIM_BENCH"
WAVES_MODULE = "sim_waves_dump"


class SimulationError(RuntimeError):
    """The simulator could not build or run the design, or a cocotb test failed."""


def build_and_test(verilog_files, toplevel: str, test_module: str, build_dir,
                   extra_env: dict | None = None, waves: bool = False,
                   testcase: str | None = None, iverilog_args=()) -> Path:
    """Compile ``verilog_files`` with ``toplevel`` as top into ``build_dir`` and run the cocotb
    ``test_module`` (a module name importable from the project root) on it.

    With ``waves``, Icarus dumps an FST at :func:`waves_path`; ``iverilog_args`` are more
    compiler arguments (the cell models of a netlist, :mod:`sim.netlist`). Returns the
    results XML; raises :class:`SimulationError` when a test fails (outside pytest; under pytest the
    cocotb runner fails the calling test itself).
    """
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    sources = [Path(f).resolve() for f in verilog_files]
    # Yosys writes Verilog-2005, whose `reg x = 0` initialisers are time-zero events that
    # settle its `always @*` blocks; under Icarus' default -g2012 they are not, and some
    # combinational outputs stay X until an input changes.
    build_args = ["-g2005", *iverilog_args]
    if waves:
        sources.append(waves_module(build_dir, toplevel))
        build_args += ["-s", WAVES_MODULE]
    runner = IcarusInSession()
    try:
        # always: the sources may be re-exported with another configuration in place
        runner.build(sources=sources, hdl_toplevel=toplevel, build_args=build_args,
                     build_dir=build_dir, timescale=TIMESCALE, always=True,
                     log_file=build_dir / "build.log")
    except RuntimeError as error:
        log = (build_dir / "build.log").read_text(errors="replace").strip().splitlines()
        raise SimulationError(f"iverilog failed on {toplevel}: {error}; "
                              f"{log[-1] if log else 'no log'}") from None
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                       os.environ.get("PYTHONPATH")])),
           **(extra_env or {})}
    results = runner.test(test_module=test_module, hdl_toplevel=toplevel, build_dir=build_dir,
                          extra_env=env, waves=waves, testcase=testcase, timescale=TIMESCALE)
    tests, failed = get_results(results)
    if failed or not tests:
        raise SimulationError(f"{failed} of {tests} cocotb tests in {test_module} failed "
                              f"(log above; results in {results})")
    return results


class IcarusInSession(Icarus):
    """cocotb's Icarus runner, its tools each run in a session of their own: a Ctrl-C at
    the terminal reaches the runner's process alone, which stops them. (In the terminal's
    process group, Icarus' ``vvp`` would stop into its interactive prompt and the Python
    inside it print a traceback.)"""

    def _execute_cmds(self, cmds, cwd, stdout=None) -> None:
        for cmd in cmds:
            self.log.info("Running command %s in directory %s", " ".join(map(str, cmd)), cwd)
            with subprocess.Popen(cmd, cwd=cwd, env=self.env, stdout=stdout,
                                  stderr=None if stdout is None else subprocess.STDOUT,
                                  start_new_session=True) as process:
                try:
                    status = process.wait()
                except BaseException:
                    process.kill()
                    raise
            if status != 0:
                raise RuntimeError(f"Command failed with return code: {status}")


def waves_path(build_dir, toplevel: str) -> Path:
    """Where Icarus writes the FST of a ``waves=True`` run (GTKWave or Surfer open it)."""
    return Path(build_dir).resolve() / f"{toplevel}.fst"


def waves_module(build_dir: Path, toplevel: str) -> Path:
    """A Verilog-2005 module dumping every signal of ``toplevel`` (cocotb's own uses
    SystemVerilog strings)."""
    path = build_dir / f"{WAVES_MODULE}.v"
    path.write_text(f"module {WAVES_MODULE};\ninitial begin\n"
                    f"  $dumpfile(\"{waves_path(build_dir, toplevel)}\");\n"
                    f"  $dumpvars(0, {toplevel});\nend\nendmodule\n")
    return path


def run_bench(verilog_files, toplevel: str, test_module: str, build_dir, settings: dict,
              waves: bool = False, iverilog_args=()) -> dict:
    """Run a bench that takes its ``settings`` from :data:`BENCH_ENV` and writes its
    measurements to ``settings["results"]`` (default ``<build_dir>/results.json``);
    return those measurements."""
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    settings = {"results": str(build_dir / "results.json"), "runner_pid": os.getpid(),
                **settings}
    results = Path(settings["results"])
    results.unlink(missing_ok=True)
    bench = build_dir / "bench.json"
    bench.write_text(json.dumps(settings, indent=1))
    build_and_test(verilog_files, toplevel, test_module, build_dir,
                   {BENCH_ENV: str(bench)}, waves=waves, iverilog_args=iverilog_args)
    if not results.is_file():
        raise SimulationError(f"{test_module} wrote no results to {results}")
    return json.loads(results.read_text())


def bench_settings() -> dict:
    """Inside a cocotb test: the settings :func:`run_bench` passed. The simulator process
    is tied to the runner's (:func:`die_with`): killed, even by SIGKILL, the runner
    leaves no simulator behind."""
    settings = json.loads(Path(os.environ[BENCH_ENV]).read_text())
    die_with(settings["runner_pid"])
    return settings


def timeout_ns(deadline) -> int:
    """The ``timeout_time`` (ns) of a bench's cocotb test: ``deadline(settings)`` in a run
    of :func:`run_bench`; 1 when the module is imported outside one (no test runs then)."""
    return int(deadline(bench_settings())) if BENCH_ENV in os.environ else 1
