"""Boards for testing sw.host without hardware: one in Python (:class:`FakeBoard`, a
transport itself), and one behind a pseudo-terminal (:class:`PtyBoard`) that ``sw.host``
opens as a serial port, which can also misbehave as a real line does."""

import io
import os
import pty
import random
import select
import threading
import tty

import numpy as np

from sw.spec import frames, golden
from sw.spec.klines import FIELDS, Klines, instrument

LATENCY = 21
INSTRUMENT = instrument("linear", "BTCUSDT")


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
        klines = Klines(INSTRUMENT, "5", start_ms=np.arange(len(self.rows)), **columns)
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


#: What a :class:`PtyBoard` sends: nothing, a flood of 0x00 (a wrong baud rate or a line
#: break), random bytes, a ready frame and then 0x00, or correct answers numbered wrongly.
LINES = ("silent", "zeros", "noise", "ready_then_zeros", "wrong_seq", "correct")
FLOOD_BYTES = 256   # per poll of about 10 ms: some 25 kB/s, a 230400-baud line


class PtyBoard:
    """A board on a pseudo-terminal: ``port`` is the path ``sw.host --port`` opens.

    A thread answers the host's frames as :class:`FakeBoard` would, and sends what
    ``line`` (one of :data:`LINES`) says instead or besides. Use as a context manager.
    """

    def __init__(self, model, line: str):
        assert line in LINES, line
        self.line = line
        self.board = FakeBoard(model, self.misnumber if line == "wrong_seq" else None)
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.port = os.ttyname(self.slave)
        self.flooding = line in ("zeros", "noise")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)
        os.close(self.master)
        os.close(self.slave)

    @staticmethod
    def misnumber(index, result):
        return frames.Result((result.seq + 1) % 256, result.signal, result.raw, result.warm,
                             result.latency)

    def serve(self):
        incoming, rng = bytearray(), random.Random(0)
        while not self.stop.is_set():
            if select.select([self.master], [], [], 0.01)[0]:
                try:
                    incoming += os.read(self.master, 4096)
                except OSError:
                    return
                incoming = self.answer(incoming)
            if self.flooding:
                flood = (bytes(FLOOD_BYTES) if self.line != "noise" else
                         bytes(rng.choice([b for b in range(256) if b != frames.SYNC])
                               for _ in range(FLOOD_BYTES)))
                self.send(flood)

    def answer(self, incoming: bytearray) -> bytearray:
        """Answer the complete frames in ``incoming``; return what is left of it."""
        while len(incoming) >= 2:
            size = frames.payload_length(incoming[1], 3) + 3
            if len(incoming) < size:
                break
            frame, incoming = bytes(incoming[:size]), incoming[size:]
            if self.line in ("silent", "zeros", "noise") or \
                    self.line == "ready_then_zeros" and self.flooding:
                continue
            self.board.write(frame)
            self.send(self.board.read(len(self.board.out)))
            if self.line == "ready_then_zeros":
                self.flooding = True
        return incoming

    def send(self, data: bytes):
        try:
            os.write(self.master, data)
        except (BlockingIOError, OSError):
            pass   # the host reads slower than the flood: the line drops bytes
