"""Benchmark: the compiled software reference against the same loop in C (gcc -O3).

    python -m sim.software_bench --data ../shared/data/bybit/BTCUSDT_linear_5m.csv
        [--model build/model] [--passes 7] [--tolerance 0.2] [--out build/reports]

Builds ``sim/software_loop.c`` (the loop of :func:`sw.spec.compiled.stream`, line for
line, on the same tables) with ``gcc -O3 -march=native`` into
``build/software_bench/software_loop.so``, checks both loops bit-exact with
:func:`sw.spec.golden.run` on the file, then times them side by side on this machine,
alternating, exactly as :class:`sw.spec.compiled.Reference` times itself:

* the dependent loop (each kline's input depends on the previous signal) and the same
  loop without that link, best of ``--passes`` passes each, in ns per kline;
* every kline alone, timer overhead subtracted: median (``sw_compiled_ns``) and p99.

Writes ``software_bench.json`` under ``--out`` and prints a table. Exit status 1 when a
loop differs from the golden model or when the compiled reference is more than
``--tolerance`` (relative) slower than the C loop, median to median or loop to loop (a
reference faster than C passes: the check is that the software the hardware is compared
with is as strong as hand-written C); 0 with a ``skipped:`` line when gcc is not
installed.
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
from sw.spec import compiled, golden
from sw.spec.artifact import ArtifactError
from sw.spec.artifact import load as load_model
from sw.spec.files import atomic_write
from sw.spec.klines import KlineError

ROOT = Path(__file__).resolve().parents[1]
SOURCE = Path(__file__).with_name("software_loop.c")
LIBRARY = ROOT / "build" / "software_bench" / "software_loop.so"
CFLAGS = ("-O3", "-march=native")
SCHEMA_VERSION = 1


class CompilerMissing(RuntimeError):
    """No gcc on this machine: the C loop cannot be built."""


def build_library(out: Path | None = None) -> Path:
    """Compile :data:`SOURCE` into the shared library ``out`` (default :data:`LIBRARY`),
    replaced atomically."""
    out = Path(out or LIBRARY)
    gcc = shutil.which("gcc")
    if gcc is None:
        raise CompilerMissing("gcc not found on PATH; the C loop needs it")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    command = [gcc, *CFLAGS, "-shared", "-fPIC", str(SOURCE), "-o", str(partial)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode:
        partial.unlink(missing_ok=True)
        lines = done.stderr.strip().splitlines() or ["no message"]
        raise cli.Failure(f"{SOURCE}: gcc failed: {lines[-1]}")
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
               [(name, INT64_P) for name in ("features", "layers", "weights", "channels")]


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
                                                      t.channels)))
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


def measure(model, klines, library: Path, passes: int = 7) -> dict:
    """Both loops checked against the golden model, then timed alternately (see the
    module docstring); figures in ns."""
    expected = golden.run(model, klines)
    loops = {"sw_compiled": compiled.Reference(model), "c": CLoop(model, library)}
    figures = {f"{name}_mismatches": mismatches(loop.run(klines), expected)
               for name, loop in loops.items()}
    best = {}
    for _ in range(passes):
        for name, loop in loops.items():
            for kind, dependent in (("loop", True), ("independent", False)):
                ns = loop.chain_ns(klines, passes=1, dependent=dependent)
                best[f"{name}_{kind}_ns"] = min(best.get(f"{name}_{kind}_ns", ns), ns)
    figures.update(best)
    for name, loop in loops.items():
        times = loop.kline_times_ns(klines)
        figures[f"{name}_mismatches"] += mismatches(loop.outputs, expected)
        figures[f"{name}_ns"] = float(np.median(times))
        figures[f"{name}_p99_ns"] = float(np.percentile(times, 99))
        figures[f"{name}_timer_overhead_ns"] = loop.timer_overhead_ns()
    return figures


def verdict(figures: dict, tolerance: float) -> dict:
    ratios = {"ratio_vs_c": figures["sw_compiled_ns"] / figures["c_ns"],
              "loop_ratio_vs_c": figures["sw_compiled_loop_ns"] / figures["c_loop_ns"]}
    return {**ratios, "tolerance": tolerance,
            "within_tolerance": all(r <= 1 + tolerance for r in ratios.values())}


def table(r: dict) -> str:
    rows = [("", "sw.spec.compiled (Numba)", "C (gcc -O3 -march=native)")]
    for label, key in (("dependent loop, ns/kline (best pass)", "loop_ns"),
                       ("independent loop, ns/kline (best pass)", "independent_ns"),
                       ("single kline, median ns", "ns"), ("single kline, p99 ns", "p99_ns"),
                       ("timer overhead subtracted, ns", "timer_overhead_ns"),
                       ("klines differing from sw.spec.golden", "mismatches")):
        rows.append((label, f"{r['sw_compiled_' + key]:g}", f"{r['c_' + key]:g}"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in rows]
    lines.append(f"compiled / C: median {r['ratio_vs_c']:.3f}, loop {r['loop_ratio_vs_c']:.3f} "
                 f"(tolerance {r['tolerance']:.0%}: "
                 f"{'met' if r['within_tolerance'] else 'NOT met'}: at most "
                 f"{1 + r['tolerance']:g})")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = cli.parser("python -m sim.software_bench", __doc__)
    parser.add_argument("--data", required=True, help="kline file (CSV or v5 JSON response)")
    parser.add_argument("--model", default="build/model", help="model artifact directory")
    parser.add_argument("--passes", type=int, default=7, help="timed passes per loop")
    parser.add_argument("--tolerance", type=float, default=0.2,
                        help="how much slower than the C loop the compiled reference "
                             "may be (default 0.2)")
    parser.add_argument("--out", default="build/reports", help="report directory")
    args = parser.parse_args(argv)
    if args.passes < 1 or not 0 < args.tolerance < 1:
        raise cli.UsageError("--passes must be at least 1 and --tolerance in (0, 1)")
    model, klines = load_model(args.model), load_klines(args.data)
    try:
        library = build_library()
    except CompilerMissing as error:
        print(f"skipped: {error}")
        return cli.EXIT_OK
    cli.say(f"timing the compiled reference and the C loop on {len(klines):,} klines, "
            f"{args.passes} passes each")
    figures = measure(model, klines, library, args.passes)
    report = {"schema_version": SCHEMA_VERSION, "data": str(args.data),
              "model": str(args.model), "klines": len(klines), "passes": args.passes,
              "compiler": f"{gcc_version()} {' '.join(CFLAGS)}", "machine": machine(),
              **figures, **verdict(figures, args.tolerance)}
    out = Path(args.out) / "software_bench.json"
    with atomic_write(out) as handle:
        json.dump(report, handle, indent=1)
    print(table(report))
    m = report["machine"]
    print(f"{m['cpu']}, {m['cores']} cores, load average {m['load_1min']:.1f}; report: {out}")
    if report["sw_compiled_mismatches"] or report["c_mismatches"]:
        raise cli.Failure("a loop differs from sw.spec.golden (see the table)")
    if not report["within_tolerance"]:
        raise cli.Failure(f"the compiled reference is more than {args.tolerance:.0%} "
                          "slower than the C loop")
    return cli.EXIT_OK


if __name__ == "__main__":
    sys.exit(cli.run(main, failures=(ArtifactError, KlineError, golden.AccumulatorOverflow)))
