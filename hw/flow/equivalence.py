"""The gateware before and after a change, shown equivalent with Yosys: for a move that must
not change the hardware (a rename, a class split).

Each side is a source tree (the working tree, or ``hw`` and ``sw`` of a git revision taken
with ``git archive``) in which a subprocess builds :class:`hw.gateware.core.SignalCore`
for one model and configuration, picks a part of it by attribute path (``""`` the whole
core, ``features``, ``mlp``, ``mlp.layers.0``; the same API before and after this
project's variant classes) and writes it as RTLIL. Yosys then flattens both designs, maps
their memories to flip-flops and logic, pairs every wire of the same name
(``equiv_make``), merges what is structurally the same (``equiv_struct``), proves the rest
(``equiv_simple``, then ``equiv_induct``) and asserts that no ``$equiv`` cell is left
unproven (``equiv_status -assert``). The ``stat`` cell counts of both flattened designs are
compared too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from hw.flow.toolchain import find_tool

#: Run in a source tree (its ``hw`` and ``sw`` first on the path): the part of the core
#: named by ``argv[3]`` for the model ``argv[1]`` and configuration ``argv[2]``, as RTLIL
#: in ``argv[4]``. Only the core's public API (``SignalCore(model, config)``, its
#: ``features`` and ``mlp.layers``), which the variant classes left as it was.
ELABORATE = """
import sys, warnings
from amaranth.back import rtlil
from amaranth.hdl import UnusedElaboratable
from hw.gateware.core import SignalCore
from sw.spec import artifact
warnings.simplefilter("ignore", UnusedElaboratable)   # the parts of the core left out
model, config, path, out = sys.argv[1:5]
design = SignalCore(artifact.load(model), config)
for name in filter(None, path.split(".")):
    design = design[int(name)] if name.isdigit() else getattr(design, name)
open(out, "w").write(rtlil.convert(design, name="top"))
"""
#: Both designs ready for pairing: flat, processes and memories lowered.
PREPARE = "hierarchy -top top; proc; flatten; memory -nomap; memory_map; opt_clean"


class EquivalenceError(RuntimeError):
    """A revision that is not there, or a Yosys run that stopped before its verdict."""


@dataclass
class Result:
    equivalent: bool
    proven: int          # $equiv cells proven
    unproven: int
    stat_before: dict    # cell type -> count, flattened
    stat_after: dict
    seconds: float       # Yosys only
    log: Path

    @property
    def same_stat(self) -> bool:
        return self.stat_before == self.stat_after


def source_tree(revision: str, into: Path, repo: Path) -> Path:
    """``hw`` and ``sw`` of the git ``revision`` of ``repo``, extracted into ``into`` (whose
    earlier contents go first)."""
    archive = subprocess.run(["git", "-C", str(repo), "archive", revision, "hw", "sw"],
                             capture_output=True, check=False)
    if archive.returncode:
        reason = archive.stderr.decode(errors="replace").strip().splitlines() or ["git failed"]
        raise EquivalenceError(f"{revision}: no sources from git ({reason[-1]})")
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into


def elaborate(tree: Path, model: Path, config: str, part: str, out: Path) -> Path:
    """RTLIL of ``part`` of the core of ``model`` in ``config``, as the source ``tree``
    builds it (in a subprocess, so two trees' modules never meet)."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    subprocess.run([sys.executable, "-c", ELABORATE, str(model.resolve()), config, part,
                    str(out.resolve())], cwd=tree, env=env, check=True)
    return out


def script(before: str, after: str) -> str:
    """The Yosys script proving the RTLIL file ``before`` (gold) and ``after`` (gate)
    equivalent, paths relative to its directory (YoWASP's Yosys sees only that one)."""
    lines = []
    for name, path in (("gold", before), ("gate", after)):
        lines += [f"read_rtlil {path}", PREPARE, f"tee -q -o stat_{name}.json stat -json",
                  f"rename top {name}", f"design -stash {name}"]
    lines += ["design -copy-from gold -as gold gold", "design -copy-from gate -as gate gate",
              "equiv_make gold gate equiv", "hierarchy -top equiv", "equiv_struct",
              "equiv_simple -seq 2", "equiv_induct", "equiv_status -assert"]
    return "\n".join(lines) + "\n"


def cell_counts(path: Path) -> dict:
    """Cell type -> count of the one module in a ``stat -json`` file."""
    modules = json.loads(path.read_text())["modules"]
    (module,) = modules.values()
    return module["num_cells_by_type"]


def check(workdir: Path, timeout: float = 1800) -> Result:
    """Run Yosys on ``before.il`` and ``after.il`` in ``workdir``, RTLIL of the same part
    (see :func:`script`), for at most ``timeout`` seconds."""
    (workdir / "equiv.ys").write_text(script("before.il", "after.il"))
    log = workdir / "equiv.log"
    start = time.monotonic()
    done = subprocess.run([find_tool("yosys"), "-q", "-l", log.name, "equiv.ys"],
                          cwd=workdir, capture_output=True, text=True, check=False,
                          timeout=timeout)
    seconds = time.monotonic() - start
    text = log.read_text(errors="replace") if log.exists() else done.stdout + done.stderr
    status = re.findall(r"Of those cells (\d+) are proven and (\d+) are unproven", text)
    if not status:
        raise EquivalenceError(f"yosys stopped before equiv_status (see {log})")
    proven, unproven = map(int, status[-1])
    return Result(done.returncode == 0 and unproven == 0, proven, unproven,
                  cell_counts(workdir / "stat_gold.json"),
                  cell_counts(workdir / "stat_gate.json"), seconds, log)
