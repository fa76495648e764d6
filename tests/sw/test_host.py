"""The host's protocol logic against a board simulated in Python from sw.spec.frames and
sw.spec.golden, a board behind a pseudo-terminal that misbehaves as a line can, and the
CLI's one-line errors."""

import re
import time

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.board.top import LinkedCore
from sw import host
from sw.data.fetch import save_csv
from sw.data.synthetic import synthetic_klines
from sw.spec import frames
from sw.spec.artifact import random_model, save
from tests.boards import LATENCY, FakeBoard, PtyBoard
from tests.uart_sim import receive, send

MODEL = random_model(np.random.default_rng(3))
KLINES = synthetic_klines(40, seed=5)


def test_a_correct_board_passes():
    lines = []
    report = host.check(FakeBoard(MODEL), MODEL, KLINES, window=4, progress=lines.append)
    assert report.klines == 40 and report.mismatches == []
    assert report.latencies == [LATENCY] * 40 and report.declared_latency == LATENCY
    assert "0 mismatches; latency 21..21 cycles" in report.summary()


def test_a_wrong_result_is_reported():
    def flip(index, result):
        return result if index != 7 else frames.Result(
            result.seq, result.signal, (result.raw[0] ^ 1, *result.raw[1:]), result.warm, 9)

    report = host.check(FakeBoard(MODEL, flip), MODEL, KLINES)
    assert [m[0] for m in report.mismatches] == [7]


@pytest.mark.parametrize("fault, message", [
    (lambda i, r: None if i == 30 else r, "no reply from the board within 0.1 s while waiting "
                                          "for the result of kline 30: the line stayed silent"),
    (lambda i, r: frames.Error(frames.ErrorCode.BAD_CHECKSUM) if i == 3 else r,
     "board rejected kline 3: BAD_CHECKSUM"),
])
def test_lost_and_rejected_klines_stop_the_run(fault, message):
    with pytest.raises(host.HostError, match=message):
        host.check(FakeBoard(MODEL, fault), MODEL, KLINES, window=1, timeout=0.1)


def test_a_lost_reply_is_seen_in_the_sequence_numbers():
    with pytest.raises(host.HostError, match="result numbered 31 where kline 30 expects 30: a frame was lost"):
        host.check(FakeBoard(MODEL, lambda i, r: None if i == 30 else r), MODEL, KLINES,
                   window=4, timeout=0.1)


def test_a_board_with_another_model_is_refused():
    with pytest.raises(host.HostError, match="board runs model 0x00000007"):
        host.check(FakeBoard(MODEL, model_id=7), MODEL, KLINES)


def test_a_silent_board_is_a_clean_error():
    class Silent:
        def write(self, data):
            pass

        def read(self, count):
            return b""

    with pytest.raises(host.HostError, match="did not answer 3 reset frames .*the line stayed "
                                             "silent"):
        host.check(Silent(), MODEL, KLINES, timeout=0.1)


def test_cli_errors_are_one_line(tmp_path, capsys):
    model = save(MODEL, tmp_path / "model")
    data = tmp_path / "BTCUSDT_linear_5m.csv"
    data.write_text("timestamp,open,high,low,close,volume\n"
                    "2025-04-03 17:05:00,81794.8,81998.1,81785.2,81804.9,317.956\n")
    missing_port = ["--port", str(tmp_path / "no-such-tty"), "--data", str(data),
                    "--model", str(model)]
    assert host.main(missing_port) == 1
    assert "cannot open serial port" in capsys.readouterr().err
    assert host.main(missing_port[:2] + ["--data", str(tmp_path / "none.csv"),
                                         "--model", str(model)]) == 1
    assert "no such kline file" in capsys.readouterr().err


class SimulatedBoard:
    """A transport onto :class:`hw.board.top.LinkedCore` in amaranth.sim: written bytes go onto
    ``rx`` bit by bit, ``read`` runs the simulation until the bytes come out of ``tx``."""

    def __init__(self, top, patience_bytes: int = 200):
        self.top, self.bit = top, top.bit_cycles
        self.to_board, self.from_board = bytearray(), bytearray()
        self.patience = patience_bytes * 10 * self.bit
        self.cycles = 0
        self.sim = Simulator(top)
        self.sim.add_clock(1e-6)
        self.sim.add_testbench(self.drive, background=True)
        self.sim.add_testbench(self.listen, background=True)

    async def drive(self, ctx):
        while True:
            if self.to_board:
                await send(ctx, self.top.rx, bytes([self.to_board.pop(0)]), self.bit)
            else:
                await ctx.tick()

    async def listen(self, ctx):
        while True:
            byte = await receive(ctx, self.top.tx, 1, self.bit, timeout=2**40)
            self.from_board += byte  # after the await: read() may have replaced the buffer

    def write(self, data: bytes) -> None:
        self.to_board += data

    def read(self, count: int) -> bytes:
        waited = 0
        while len(self.from_board) < count and waited < self.patience:
            self.cycles += 10 * self.bit
            waited += 10 * self.bit
            self.sim.run_until(self.cycles * 1e-6)
        data, self.from_board = bytes(self.from_board[:count]), self.from_board[count:]
        return data


@pytest.mark.slow
def test_host_checks_the_hardware_model():
    """The host end to end against LinkedCore's own simulation (a few klines: it is slow;
    the cocotb bench streams hundreds)."""
    top = LinkedCore(MODEL, clk_freq=8, baud=1)
    # a generous deadline: each reply costs the Python simulation about a second
    report = host.check(SimulatedBoard(top), MODEL, KLINES[:4], window=2, timeout=60)
    assert report.mismatches == [] and report.klines == 4
    assert report.latencies == [top.latency] * 4 == [report.declared_latency] * 4


@pytest.fixture
def files(tmp_path):
    return ["--model", str(save(MODEL, tmp_path / "model")),
            "--data", str(save_csv(KLINES, tmp_path / "BTCUSDT_linear_5m.csv"))]


SYNC_LOST = r"no frame sync within 0.2 s while waiting for the {}: [\d,]+ bytes of {} — wrong baud rate\?"
NO_READY = r"the board did not answer 3 reset frames \(last: {}\)"


@pytest.mark.parametrize("line, message", [
    ("silent", NO_READY.format("no reply from the board within 0.2 s while waiting for the "
                               "ready frame: the line stayed silent")),
    ("zeros", NO_READY.format(SYNC_LOST.format("ready frame", "0x00"))),
    ("noise", NO_READY.format(SYNC_LOST.format("ready frame", "noise"))),
    ("ready_then_zeros", SYNC_LOST.format("result of kline 0", "0x00")),
    ("wrong_seq", "result numbered 1 where kline 0 expects 0: a frame was lost"),
])
def test_a_misbehaving_line_ends_the_run_in_time(files, capsys, line, message):
    """D1: every wait ends by its deadline, with one line saying what the line carried"""
    with PtyBoard(MODEL, line) as board:
        start = time.monotonic()
        code = host.main(["--port", board.port, "--timeout", "0.2", *files])
        seconds = time.monotonic() - start
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and seconds < 5
    assert re.match("error: " + message, err[0]), err[0]


def test_a_correct_board_behind_a_serial_port_passes(files, capsys):
    with PtyBoard(MODEL, "correct") as board:
        assert host.main(["--port", board.port, "--timeout", "0.5", *files]) == 0
    assert "40 klines checked against sw.spec.golden: 0 mismatches" in capsys.readouterr().out


def test_the_run_has_a_deadline_of_its_own():
    """D1: replies each within the frame deadline still cannot stretch a run past the
    run's deadline"""
    def slow(index, result):
        time.sleep(0.05)
        return result

    with pytest.raises(host.HostError, match=r"no reply from the board within the run's "
                                             r"0.5 s while waiting for the result of kline \d+"):
        host.check(FakeBoard(MODEL, slow), MODEL, KLINES, window=1, timeout=0.2,
                   run_timeout=0.5)
