"""The host's protocol logic against a board simulated in Python from sw.spec.frames and
sw.spec.golden, and the CLI's one-line errors."""

import io

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.board.top import LinkedCore
from sw import host
from sw.data.synthetic import synthetic_klines
from sw.spec import frames, golden
from sw.spec.artifact import random_model, save
from sw.spec.klines import FIELDS, Klines
from tests.uart_sim import receive, send

LATENCY = 21


class FakeBoard:
    """The board's behaviour as sw.spec.frames specifies it: one result per kline frame, a
    ready frame per reset frame; ``fault(index, result)`` may alter or drop a result."""

    def __init__(self, model, fault=None, model_id=None):
        self.model, self.fault = model, fault
        self.model_id = frames.model_id(model) if model_id is None else model_id
        self.rows, self.seq, self.out = [], 0, bytearray()

    def write(self, data: bytes) -> None:
        incoming = io.BytesIO(data)
        while incoming.tell() < len(data):
            message = frames.decode(frames.read_frame(incoming.read), len(self.model.classes))
            if isinstance(message, frames.Reset):
                self.rows, self.seq = [], 0
                self.out += frames.encode(frames.Ready(frames.VERSION, len(self.model.classes),
                                                       LATENCY, self.model_id))
            else:
                self.answer(message)

    def answer(self, kline: frames.Kline) -> None:
        self.rows.append(kline)
        columns = {name: np.array([getattr(k, name) for k in self.rows]) for name in FIELDS}
        klines = Klines(KLINES.instrument, "5", start_ms=np.arange(len(self.rows)), **columns)
        out = golden.run(self.model, klines)
        n = len(self.rows) - 1
        result = frames.Result(self.seq % 256, int(out.signal[n]),
                               tuple(int(r) for r in out.raw[n]), bool(out.warm[n]), LATENCY)
        self.seq += 1
        if self.fault:
            result = self.fault(n, result)
        if result is not None:
            self.out += frames.encode(result)

    def read(self, count: int) -> bytes:
        data, self.out = bytes(self.out[:count]), self.out[count:]
        return data


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
    (lambda i, r: None if i == 30 else r, "no reply from the board while waiting for the "
                                          "result of kline 30"),
    (lambda i, r: frames.Error(frames.ErrorCode.BAD_CHECKSUM) if i == 3 else r,
     "board rejected kline 3: BAD_CHECKSUM"),
])
def test_lost_and_rejected_klines_stop_the_run(fault, message):
    with pytest.raises(host.HostError, match=message):
        host.check(FakeBoard(MODEL, fault), MODEL, KLINES, window=1)


def test_a_lost_reply_is_seen_in_the_sequence_numbers():
    with pytest.raises(host.HostError, match="out of order at kline 30: a frame was lost"):
        host.check(FakeBoard(MODEL, lambda i, r: None if i == 30 else r), MODEL, KLINES,
                   window=4)


def test_a_board_with_another_model_is_refused():
    with pytest.raises(host.HostError, match="board runs model 0x00000007"):
        host.check(FakeBoard(MODEL, model_id=7), MODEL, KLINES)


def test_a_silent_board_is_a_clean_error():
    class Silent:
        def write(self, data):
            pass

        def read(self, count):
            return b""

    with pytest.raises(host.HostError, match="did not answer 3 reset frames"):
        host.check(Silent(), MODEL, KLINES)


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
    report = host.check(SimulatedBoard(top), MODEL, KLINES[:4], window=2)
    assert report.mismatches == [] and report.klines == 4
    assert report.latencies == [top.latency] * 4 == [report.declared_latency] * 4
