"""Interrupting a tool, as Ctrl-C (SIGINT to its process group), SIGTERM or SIGKILL would:
one line, exit 130 (SIGKILL: no say), no child process left, and what was there before
intact."""

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from sw.data.fetch import save_csv
from sw.data.synthetic import synthetic_klines
from sw.spec.artifact import random_model, save
from tests.hw import standin_tools
from tests.processes import alive, descendants, wait_for

ROOT = Path(__file__).resolve().parents[1]


def as_at_a_terminal():
    """SIGINT as a terminal's foreground job has it: a test suite started in the background
    by a non-interactive shell (``make test &``) ignores SIGINT, and its children would too."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Tool:
    """``python -m module args`` in a process group of its own (the terminal's, for
    Ctrl-C); a thread collects its stderr lines as they come."""

    def __init__(self, module: str, *args, env=None):
        env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *map(str, args)], cwd=ROOT, env=env,
            start_new_session=True, preexec_fn=as_at_a_terminal,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.pid = self.process.pid
        self.lines = []
        self.reader = threading.Thread(target=self.lines.extend, args=(self.process.stderr,))
        self.reader.start()

    def said(self, text: str, seconds: float = 120) -> bool:
        """Whether a stderr line holding ``text`` came within ``seconds``."""
        return bool(wait_for(lambda: any(text in line for line in self.lines), seconds))

    def runs(self, pattern: str, seconds: float = 120) -> bool:
        """Whether a process below the tool whose command line matches ``pattern`` (a
        regular expression) ran within ``seconds``."""
        return bool(wait_for(lambda: any(re.search(pattern, line) for line in
                                         descendants(self.pid).values()), seconds))

    def interrupt(self, how: str) -> tuple[int, list, dict]:
        """Send ``how`` (``ctrl-c``, ``sigterm`` or ``sigkill``); return the exit status,
        the stderr lines, and the children that were alive just before."""
        children = descendants(self.pid)
        if how == "ctrl-c":
            os.killpg(self.pid, signal.SIGINT)
        else:
            self.process.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
        code = self.process.wait(timeout=60)
        self.reader.join(timeout=2)   # a child left behind may hold stderr open
        return code, [line.rstrip("\n") for line in self.lines], children


def assert_interrupted(code: int, err: list, children: dict, how: str):
    if how == "sigkill":
        assert code == -signal.SIGKILL
    else:
        assert code == 130 and err[-1] == "interrupted", err[-3:]
        assert not any("Traceback" in line for line in err)
    left = wait_for(lambda: all(not alive(pid) for pid in children), 5)
    assert left, f"children left running: {children}"


def snapshot(directory: Path) -> dict:
    return {path.relative_to(directory): path.read_bytes()
            for path in sorted(directory.rglob("*")) if path.is_file()}


@pytest.mark.sim
@pytest.mark.parametrize("how", ["ctrl-c", "sigkill"])
def test_sim_run_leaves_no_simulator_and_its_reports_whole(tmp_path, how):
    """D8, D13: interrupted while Icarus simulates"""
    model = save(random_model(np.random.default_rng(0)), tmp_path / "model")
    # long enough that a simulator left behind would still run when the test looks
    data = save_csv(synthetic_klines(20_000, seed=1), tmp_path / "BTCUSDT_linear_5m.csv")
    reports = tmp_path / "reports"
    reports.mkdir()
    for name in ("latency.json", "latency.md", "latency.png"):
        (reports / name).write_text(f"an earlier run's {name}")
    before = snapshot(reports)
    tool = Tool("sim.run", "--data", data, "--model", model, "--build", tmp_path / "sim",
                "--reports", reports)
    assert tool.runs(r"^\S*vvp "), "the simulator never started"   # not iverilog -o sim.vvp
    code, err, children = tool.interrupt(how)
    assert_interrupted(code, err, children, how)
    assert snapshot(reports) == before


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "sigkill"])
def test_hw_export_keeps_the_previous_pair(tmp_path, how):
    """D8, D10: interrupted while Amaranth converts the core"""
    model = save(random_model(np.random.default_rng(0)), tmp_path / "model")
    out = tmp_path / "verilog"
    out.mkdir()
    (out / "signal_core.v").write_text("module signal_core(); endmodule // earlier\n")
    (out / "signal_core.json").write_text('{"earlier": true}\n')
    before = snapshot(out)
    tool = Tool("hw.export", "--model", model, "--out", out)
    assert tool.said("converting the parallel core")
    code, err, children = tool.interrupt(how)
    assert_interrupted(code, err, children, how)
    assert snapshot(out) == before


@pytest.mark.parametrize("how", ["ctrl-c", "sigkill"])
def test_sw_train_keeps_the_previous_model_and_report(tmp_path, how):
    """D8, D11: interrupted while training"""
    data = save_csv(synthetic_klines(3000, seed=1), tmp_path / "BTCUSDT_linear_5m.csv")
    out, reports = tmp_path / "model", tmp_path / "reports"
    save(random_model(np.random.default_rng(0)), out)
    reports.mkdir()
    for name in ("precision.json", "precision.md", "precision.png"):
        (reports / name).write_text(f"an earlier run's {name}")
    before = snapshot(out), snapshot(reports)
    tool = Tool("sw.train", "--data", data, "--out", out, "--reports", reports,
                "--epochs", "1000")
    assert tool.said("epoch")
    code, err, children = tool.interrupt(how)
    assert_interrupted(code, err, children, how)
    assert (snapshot(out), snapshot(reports)) == before


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "sigkill"])
def test_hw_build_keeps_the_previous_set(tmp_path, how):
    """D9: interrupted in place and route (a stand-in toolchain: tests/hw/standin_tools.py)"""
    model = save(random_model(np.random.default_rng(0)), tmp_path / "model")
    env = {**standin_tools.install(tmp_path / "tools"), "STANDIN_NEXTPNR_S": "120"}
    board = tmp_path / "build" / "icebreaker"
    board.mkdir(parents=True)
    for name in ("trader.bit", "trader.bin", "report.json", "report.md", "yosys.log"):
        (board / name).write_text(f"an earlier build's {name}")
    before = snapshot(board)
    tool = Tool("hw.build", "--board", "icebreaker", "--config", "folded", "--model", model,
                "--out", tmp_path / "build", "--placement", "timing", env=env)
    assert tool.runs("standin_tools.py nextpnr-ice40"), tool.lines
    code, err, children = tool.interrupt(how)
    assert_interrupted(code, err, children, how)
    assert snapshot(board) == before
    if how != "sigkill":    # SIGKILL leaves the staging directory (the next build cleans it)
        assert sorted(path.name for path in (tmp_path / "build").iterdir()) == ["icebreaker"]
