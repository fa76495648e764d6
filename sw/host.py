"""Stream klines to a board over its UART link and check every reply against :mod:`sw.spec.golden`.

    python -m sw.host --port /dev/ttyUSB0 --data ../shared/data/bybit/BTCUSDT_linear_5m.csv

The host first sends a reset frame and waits for the board's ready frame, which names the
model the board was built with: a board with another model is refused before any kline
is sent. Then it keeps up to ``--window`` klines in flight, checks each result's sequence
number, signal, raw outputs and warm flag, and reports the on-chip latency counters.
The protocol logic works on any transport with ``write(bytes)`` and ``read(n) -> bytes``
(short on timeout), so it is tested without a serial port.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np

from sw import cli
from sw.data import sanity
from sw.data.load import load as load_klines
from sw.spec import frames, golden
from sw.spec.artifact import ArtifactError, QuantizedModel
from sw.spec.artifact import load as load_model
from sw.spec.klines import KlineError, Klines

PROGRESS_EVERY = 1000
#: How long a serial read waits for data before the deadlines are looked at again.
POLL_S = 0.05


class HostError(RuntimeError):
    """The board or the serial port did something the protocol does not allow."""


class SerialTransport:
    """A serial port (pyserial). Reads return short after :data:`POLL_S` without data, so
    the deadlines of :func:`reply` are kept to within that."""

    def __init__(self, port: str, baud: int):
        import serial
        try:
            self._port = serial.Serial(port, baud, timeout=POLL_S)
        except (serial.SerialException, ValueError) as error:
            raise HostError(f"cannot open serial port {port}: {error}") from None

    def write(self, data: bytes) -> None:
        self._port.write(data)

    def read(self, count: int) -> bytes:
        return self._port.read(count)

    def close(self) -> None:
        self._port.close()


@dataclass(frozen=True)
class Deadline:
    """A moment on ``clock`` by which something must have happened, and its name for
    messages (``"1 s"``, ``"the run's 60 s"``)."""
    at: float
    name: str
    clock: object = time.monotonic

    @classmethod
    def after(cls, seconds: float, name: str = "", clock=time.monotonic) -> "Deadline":
        return cls(clock() + seconds, name or f"{seconds:g} s", clock)

    def passed(self) -> bool:
        return self.clock() >= self.at

    def first(self, other: "Deadline | None") -> "Deadline":
        return self if other is None or self.at <= other.at else other


@dataclass
class Report:
    """What came back: ``mismatches`` as (kline index, expected, got) results."""
    klines: int = 0
    declared_latency: int = 0
    latencies: list = field(default_factory=list)
    mismatches: list = field(default_factory=list)

    def summary(self) -> str:
        lat = np.array(self.latencies)
        text = f"{self.klines} klines checked against sw.spec.golden: {len(self.mismatches)} mismatches"
        if lat.size:
            text += (f"; latency {lat.min()}..{lat.max()} cycles (mean {lat.mean():.1f}), "
                     f"declared {self.declared_latency}")
        return text


def reply(transport, classes: int, waiting_for: str, deadline: Deadline):
    """The next frame from the board, whole before ``deadline``; a :class:`HostError`
    saying what the line carried instead (silence, a flood of one byte value, noise, or
    part of a frame)."""
    seen = bytearray()

    def read(count: int) -> bytes:
        data = bytearray()
        while len(data) < count:
            if deadline.passed():
                raise TimeoutError
            chunk = transport.read(count - len(data))
            data += chunk
            seen.extend(chunk)
        return bytes(data)

    try:
        return frames.decode_reply(read, classes)
    except TimeoutError:
        raise HostError(late(seen, waiting_for, deadline)) from None
    except frames.FrameError as error:
        raise HostError(f"garbled reply while waiting for {waiting_for}: {error}") from None


def late(seen: bytes, waiting_for: str, deadline: Deadline) -> str:
    """Why no frame came before ``deadline``, from the bytes that came instead."""
    sync = seen.find(frames.SYNC)
    if not seen:
        return (f"no reply from the board within {deadline.name} while waiting for "
                f"{waiting_for}: the line stayed silent")
    if sync < 0:
        what = (f"{len(seen):,} bytes of 0x{seen[0]:02x}" if len(set(seen)) == 1 else
                f"{len(seen):,} bytes of noise")
        return (f"no frame sync within {deadline.name} while waiting for {waiting_for}: "
                f"{what} — wrong baud rate?")
    return (f"no complete frame within {deadline.name} while waiting for {waiting_for}: "
            f"{len(seen) - sync} bytes of a frame, then silence")


def handshake(transport, model: QuantizedModel, timeout: float = 1.0, attempts: int = 3,
              clock=time.monotonic) -> frames.Ready:
    """Reset the board and check it runs ``model``; results still in flight are skipped.
    Each of ``attempts`` resets waits ``timeout`` seconds in all for the ready frame."""
    classes = len(model.classes)
    for _ in range(attempts):
        transport.write(frames.encode(frames.Reset()))
        deadline = Deadline.after(timeout, clock=clock)
        try:
            while not isinstance(ready := reply(transport, classes, "the ready frame",
                                                deadline), frames.Ready):
                pass
            break
        except HostError as error:
            reason = error   # a partial frame from an earlier session: its timeout clears it
    else:
        raise HostError(f"the board did not answer {attempts} reset frames (last: {reason}): "
                        "is it programmed, and at this baud rate?")
    if ready.version != frames.VERSION:
        raise HostError(f"board speaks protocol version {ready.version}, host "
                        f"{frames.VERSION}")
    model_id = frames.model_id(model)
    if (ready.classes, ready.model_id) != (classes, model_id):
        raise HostError(f"board runs model 0x{ready.model_id:08x} ({ready.classes} classes), "
                        f"not the given model 0x{model_id:08x} ({classes} "
                        "classes): rebuild the bitstream or pass its --model")
    return ready


def line_seconds(klines: int, classes: int, baud: int) -> float:
    """How long the UART line takes to carry ``klines`` kline frames (8N1); their result
    frames travel the other way at the same time."""
    kline_bytes = len(frames.encode(frames.Kline(0, 0, 0, 0, 0)))
    result_bytes = frames.payload_length(frames.Type.RESULT, classes) + 3
    return klines * max(kline_bytes, result_bytes) * 10 / baud


def check(transport, model: QuantizedModel, klines: Klines, *, window: int = 16,
          progress=None, timeout: float = 1.0, run_timeout: float | None = None,
          clock=time.monotonic) -> Report:
    """Reset the board, stream ``klines``, compare every reply with the golden model.

    Every reply must arrive whole within ``timeout`` seconds, and the whole run (the
    handshake included) must end within ``run_timeout`` seconds when given."""
    run = None if run_timeout is None else \
        Deadline.after(run_timeout, f"the run's {run_timeout:g} s", clock)
    ready = handshake(transport, model, timeout, clock=clock)
    expected = golden.run(model, klines)
    rows = klines.rows()
    report = Report(len(rows), ready.latency)
    sent = 0
    for index in range(len(rows)):
        while sent < len(rows) and sent - index < window:
            transport.write(frames.encode_kline(rows[sent]))
            sent += 1
        got = reply(transport, len(model.classes), f"the result of kline {index}",
                    Deadline.after(timeout, clock=clock).first(run))
        if isinstance(got, frames.Error):
            raise HostError(f"board rejected kline {index}: {got.code.name}; its history is "
                            "now incomplete, so later results cannot match")
        if not isinstance(got, frames.Result):
            raise HostError(f"a {type(got).__name__.lower()} frame where the result of kline "
                            f"{index} belongs")
        if got.seq != index % 256:
            raise HostError(f"result numbered {got.seq} where kline {index} expects "
                            f"{index % 256}: a frame was lost")
        want = (int(expected.signal[index]), tuple(int(r) for r in expected.raw[index]),
                bool(expected.warm[index]))
        if (got.signal, got.raw, got.warm) != want:
            report.mismatches.append((index, want, (got.signal, got.raw, got.warm)))
        report.latencies.append(got.latency)
        if progress and (index + 1) % PROGRESS_EVERY == 0:
            progress(f"{index + 1}/{len(rows)} klines, {len(report.mismatches)} mismatches")
    return report


def command(argv) -> int:
    parser = cli.parser("python -m sw.host", __doc__)
    parser.add_argument("--port", required=True, help="serial port of the board")
    parser.add_argument("--data", required=True, help="kline file (CSV or v5 JSON response)")
    parser.add_argument("--model", default="build/model", help="model artifact the board runs")
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument("--limit", type=int, help="send only the first N klines")
    parser.add_argument("--window", type=int, default=16, help="klines in flight")
    parser.add_argument("--timeout", type=float, default=1.0,
                        help="seconds a whole reply frame may take (default 1)")
    parser.add_argument("--run-timeout", type=float,
                        help="seconds the whole run may take (default: twice the line time "
                        "of the klines at --baud, plus 3 timeouts for the handshake)")
    parser.add_argument("--force", action="store_true",
                        help="run the model on klines of another market or interval")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1 or args.window < 1:
        parser.error("--limit and --window must be at least 1")
    if not args.timeout > 0 or args.run_timeout is not None and not args.run_timeout > 0 \
            or args.baud < 1:
        parser.error("--timeout, --run-timeout and --baud must be positive")
    model = load_model(args.model)
    klines = load_klines(args.data)[:args.limit]
    sanity.vet(model.meta, klines, args.force, cli.say)
    run_timeout = args.run_timeout or (
        2 * line_seconds(len(klines), len(model.classes), args.baud) + 3 * args.timeout)
    transport = SerialTransport(args.port, args.baud)
    try:
        report = check(transport, model, klines, window=args.window, progress=cli.say,
                       timeout=args.timeout, run_timeout=run_timeout)
    finally:
        transport.close()
    print(report.summary())
    for index, want, got in report.mismatches[:10]:
        print(f"  kline {index}: expected (signal, raw, warm) {want}, board {got}")
    return cli.EXIT_FAILURE if report.mismatches else cli.EXIT_OK


def main(argv=None) -> int:
    return cli.run(command, argv, failures=(HostError, ArtifactError, KlineError))


if __name__ == "__main__":
    sys.exit(main())
