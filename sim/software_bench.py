"""Benchmark: the compiled software reference against the same loop in C (gcc).

    python -m sim.software_bench --data ../shared/data/bybit/BTCUSDT_linear_5m.csv
        [--model build/model] [--passes 7] [--tolerance 0.2] [--out build/reports]

Builds ``sim/software_loop.c`` (the loop of :func:`sw.spec.compiled.stream`, line for
line, on the same tables) with gcc into shared libraries under ``build/software_bench/``,
once per flag set of :data:`CFLAGS` (``-O3 -march=native``, and plain ``-O2``, which
builds the faster loop on some CPUs), checks every loop bit-exact with
:func:`sw.spec.golden.run` on the file, then times them side by side on this machine,
alternating, exactly as :class:`sw.spec.compiled.Reference` times itself:

* the dependent loop (each kline's input depends on the previous signal) and the same
  loop without that link, best of ``--passes`` passes each, in ns per kline;
* every kline alone, timer overhead subtracted: median (``sw_compiled_ns``) and p99 of
  the pass with the lowest median.

Writes ``software_bench.json`` under ``--out`` and prints a table. Exit status 1 when a
loop differs from the golden model or when the compiled reference is more than
``--tolerance`` (relative) slower than the fastest C build, median to median or loop to
loop (a reference faster than C passes: the check is that the software the hardware is
compared with is as strong as hand-written C); 0 with a ``skipped:`` line when gcc is
not installed.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from sim.report import machine
from sw import cli
from sw.data.load import load as load_klines
from sw.spec import compiled, golden, schema
from sw.spec.artifact import ArtifactError
from sw.spec.artifact import load as load_model
from sw.spec.features import RECIPROCALS
from sw.spec.files import atomic_write
from sw.spec.klines import KlineError

ROOT = Path(__file__).resolve().parents[1]
SOURCE = Path(__file__).with_name("software_loop.c")
BUILD = ROOT / "build" / "software_bench"
#: The C builds timed; the first is the one the issue names.
CFLAGS = ("-O3 -march=native", "-O2")
#: What is timed of each loop, in the order the table shows it.
FIGURES = (("dependent loop, ns/kline (best pass)", "loop_ns"),
           ("independent loop, ns/kline (best pass)", "independent_ns"),
           ("single kline, median ns", "ns"), ("single kline, p99 ns", "p99_ns"),
           ("timer overhead subtracted, ns", "timer_overhead_ns"),
           ("klines differing from sw.spec.golden", "mismatches"))


class CompilerMissing(RuntimeError):
    """No gcc on this machine: the C loop cannot be built."""


def build_library(flags: str = CFLAGS[0], directory: Path | None = None) -> Path:
    """Compile :data:`SOURCE` with gcc ``flags`` into a shared library in ``directory``
    (default :data:`BUILD`), replaced atomically; return its path."""
    gcc = shutil.which("gcc")
    if gcc is None:
        raise CompilerMissing("gcc not found on PATH; the C loop needs it")
    out = Path(directory or BUILD) / f"software_loop{flags.replace(' ', '')}.so"
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    command = [gcc, *flags.split(), "-shared", "-fPIC", str(SOURCE), "-o", str(partial)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode:
        partial.unlink(missing_ok=True)
        lines = done.stderr.strip().splitlines() or ["no message"]
        raise cli.Failure(f"{SOURCE}: gcc {flags} failed: {lines[-1]}")
    partial.replace(out)
    return out


def gcc_version() -> str:
    done = subprocess.run([shutil.which("gcc") or "gcc", "--version"], capture_output=True,
                          text=True, timeout=30)
    return done.stdout.splitlines()[0] if done.stdout else "gcc"


INT64_P = ctypes.POINTER(ctypes.c_int64)


class CTables(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int64) for name in
                ("volume_window", "warmup", "ring_mask", "n_features", "n_layers", "width")] + \
               [(name, INT64_P) for name in ("features", "layers", "weights", "channels",
                                             "reciprocals")]


class CState(ctypes.Structure):
    _fields_ = [(name, INT64_P) for name in compiled.State._fields]


class COutputs(ctypes.Structure):
    _fields_ = [("signals", INT64_P), ("raw", ctypes.POINTER(ctypes.c_int8)),
                ("warms", ctypes.POINTER(ctypes.c_uint8))]


def pointer(array: np.ndarray, kind=ctypes.c_int64):
    assert array.flags.c_contiguous
    return array.ctypes.data_as(ctypes.POINTER(kind))


class CLoop(compiled.Reference):
    """:class:`sw.spec.compiled.Reference` with its loop in C (``stream`` of
    ``software_loop.c``) on the same tables and state."""

    def __init__(self, model, library: Path):
        super().__init__(model)
        self._lib = ctypes.CDLL(str(library))
        self._lib.stream.restype = ctypes.c_int64
        self._lib.stream.argtypes = [ctypes.POINTER(CTables), ctypes.POINTER(CState), INT64_P,
                                     ctypes.c_int64, ctypes.c_int64, ctypes.c_int, INT64_P,
                                     ctypes.c_int, ctypes.POINTER(COutputs)]
        self._lib.empty_pairs.argtypes = [INT64_P, ctypes.c_int64]
        t = self.tables
        self._tables = CTables(t.volume_window, t.warmup, t.ring_mask, len(t.features),
                               len(t.layers), t.weights.shape[1],
                               *(pointer(a) for a in (t.features, t.layers, t.weights,
                                                      t.channels, RECIPROCALS)))
        self._state = CState(*(pointer(a) for a in self.state))

    def stream(self, klines, dependent, times, pass_clock) -> int:
        out = self.outputs
        outputs = COutputs(pointer(out.signal), pointer(out.raw, ctypes.c_int8),
                           pointer(out.warm.view(np.uint8), ctypes.c_uint8))
        elapsed = self._lib.stream(ctypes.byref(self._tables), ctypes.byref(self._state),
                                   pointer(klines), len(klines), 0, dependent,
                                   None if times is None else pointer(times), pass_clock,
                                   ctypes.byref(outputs))
        if elapsed < 0:
            raise golden.AccumulatorOverflow("accumulator leaves INT32 (C loop)")
        return elapsed

    def empty_pairs(self, times) -> None:
        self._lib.empty_pairs(pointer(times), len(times))


def mismatches(outputs: golden.Outputs, expected: golden.Outputs) -> int:
    """Klines whose signal, raw outputs or warm flag differ."""
    return int(np.sum((outputs.signal != expected.signal) | (outputs.warm != expected.warm)
                      | np.any(outputs.raw != expected.raw, axis=1)))


def measure(model, klines, libraries: dict, passes: int = 7) -> dict:
    """``{loop: {figure: value}}`` for the compiled reference (``"sw_compiled"``) and
    each C build (``libraries``: flags -> path), checked against the golden model, then
    timed alternately (see the module docstring); times in ns."""
    expected = golden.run(model, klines)
    loops = {"sw_compiled": compiled.Reference(model),
             **{flags: CLoop(model, path) for flags, path in libraries.items()}}
    figures = {name: {"mismatches": mismatches(loop.run(klines), expected)}
               for name, loop in loops.items()}
    times = {}
    for _ in range(passes):
        for name, loop in loops.items():
            for key, dependent in (("loop_ns", True), ("independent_ns", False)):
                ns = loop.chain_ns(klines, passes=1, dependent=dependent)
                figures[name][key] = min(figures[name].get(key, ns), ns)
            kline_ns = loop.kline_times_ns(klines, passes=1)
            figures[name]["mismatches"] += mismatches(loop.outputs, expected)
            if name not in times or np.median(kline_ns) < np.median(times[name]):
                times[name] = kline_ns
    for name, loop in loops.items():
        figures[name].update(ns=float(np.median(times[name])),
                             p99_ns=float(np.percentile(times[name], 99)),
                             timer_overhead_ns=loop.timer_overhead_ns())
    return figures


def summarize(figures: dict, tolerance: float) -> dict:
    """The report's keys: ``sw_compiled_*`` and ``c_*`` (of the fastest C build, by its
    dependent loop), every build under ``c_builds``, and the verdict."""
    builds = {flags: values for flags, values in figures.items() if flags != "sw_compiled"}
    fastest = min(builds, key=lambda flags: builds[flags]["loop_ns"])
    ours, theirs = figures["sw_compiled"], builds[fastest]
    ratios = {"ratio_vs_c": ours["ns"] / theirs["ns"],
              "loop_ratio_vs_c": ours["loop_ns"] / theirs["loop_ns"]}
    return {**{f"sw_compiled_{key}": value for key, value in ours.items()},
            "c_flags": fastest, **{f"c_{key}": value for key, value in theirs.items()},
            "c_builds": builds, **ratios, "tolerance": tolerance,
            "within_tolerance": all(r <= 1 + tolerance for r in ratios.values())}


def table(r: dict) -> str:
    names = ["sw_compiled", *r["c_builds"]]
    rows = [("", "sw.spec.compiled (Numba)", *(f"C, gcc {flags}" for flags in r["c_builds"]))]
    values = {"sw_compiled": {key: r[f"sw_compiled_{key}"] for _, key in FIGURES},
              **r["c_builds"]}
    for label, key in FIGURES:
        rows.append((label, *(f"{values[name][key]:g}" for name in names)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in rows]
    lines.append(f"compiled / fastest C (gcc {r['c_flags']}): median {r['ratio_vs_c']:.3f}, "
                 f"loop {r['loop_ratio_vs_c']:.3f} (at most {1 + r['tolerance']:g}: "
                 f"{'met' if r['within_tolerance'] else 'NOT met'})")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = cli.parser("python -m sim.software_bench", __doc__)
    parser.add_argument("--data", required=True, help="kline file (CSV or v5 JSON response)")
    parser.add_argument("--model", default="build/model", help="model artifact directory")
    parser.add_argument("--passes", type=int, default=7, help="timed passes per loop")
    parser.add_argument("--tolerance", type=float, default=0.2,
                        help="how much slower than the fastest C build the compiled "
                             "reference may be (default 0.2)")
    parser.add_argument("--out", default="build/reports", help="report directory")
    args = parser.parse_args(argv)
    if args.passes < 1 or not 0 < args.tolerance < 1:
        raise cli.UsageError("--passes must be at least 1 and --tolerance in (0, 1)")
    model, klines = load_model(args.model), load_klines(args.data)
    try:
        libraries = {flags: build_library(flags) for flags in CFLAGS}
    except CompilerMissing as error:
        print(f"skipped: {error}")
        return cli.EXIT_OK
    cli.say(f"timing the compiled reference and {len(libraries)} C builds on "
            f"{len(klines):,} klines, {args.passes} passes each")
    figures = measure(model, klines, libraries, args.passes)
    report = {"schema_version": schema.SOFTWARE_BENCH, "data": str(args.data),
              "model": str(args.model), "klines": len(klines), "passes": args.passes,
              "compiler": gcc_version(), "machine": machine(),
              **summarize(figures, args.tolerance)}
    out = Path(args.out) / "software_bench.json"
    with atomic_write(out) as handle:
        json.dump(report, handle, indent=1)
    print(table(report))
    m = report["machine"]
    print(f"{m['cpu']}, {m['cores']} cores, load average {m['load_1min']:.1f}; report: {out}")
    if any(loop["mismatches"] for loop in figures.values()):
        raise cli.Failure("a loop differs from sw.spec.golden (see the table)")
    if not report["within_tolerance"]:
        raise cli.Failure(f"the compiled reference is more than {args.tolerance:.0%} "
                          f"slower than the C loop (gcc {report['c_flags']})")
    return cli.EXIT_OK


if __name__ == "__main__":
    sys.exit(cli.run(main, failures=(ArtifactError, KlineError, golden.AccumulatorOverflow)))
