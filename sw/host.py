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
from dataclasses import dataclass, field

import numpy as np

from sw import cli
from sw.data.load import load as load_klines
from sw.spec import frames, golden
from sw.spec.artifact import ArtifactError, QuantizedModel
from sw.spec.artifact import load as load_model
from sw.spec.klines import KlineError, Klines

PROGRESS_EVERY = 1000


class HostError(RuntimeError):
    """The board or the serial port did something the protocol does not allow."""


class SerialTransport:
    """A serial port (pyserial) whose reads give up after ``timeout`` seconds."""

    def __init__(self, port: str, baud: int, timeout: float):
        import serial
        try:
            self._port = serial.Serial(port, baud, timeout=timeout)
        except (serial.SerialException, ValueError) as error:
            raise HostError(f"cannot open serial port {port}: {error}") from None

    def write(self, data: bytes) -> None:
        self._port.write(data)

    def read(self, count: int) -> bytes:
        return self._port.read(count)

    def close(self) -> None:
        self._port.close()


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


def reply(transport, classes: int, waiting_for: str):
    try:
        return frames.decode_reply(transport.read, classes)
    except TimeoutError:
        raise HostError(f"no reply from the board while waiting for {waiting_for}") from None
    except frames.FrameError as error:
        raise HostError(f"garbled reply while waiting for {waiting_for}: {error}") from None


def handshake(transport, model: QuantizedModel, attempts: int = 3) -> frames.Ready:
    """Reset the board and check it runs ``model``; results still in flight are skipped."""
    classes = len(model.classes)
    for _ in range(attempts):
        transport.write(frames.encode(frames.Reset()))
        try:
            while not isinstance(ready := reply(transport, classes, "the ready frame"),
                                 frames.Ready):
                pass
            break
        except HostError:
            continue  # a partial frame from an earlier session: its timeout clears it
    else:
        raise HostError(f"the board did not answer {attempts} reset frames: is it "
                        "programmed, and at this baud rate?")
    if ready.version != frames.VERSION:
        raise HostError(f"board speaks protocol version {ready.version}, host "
                        f"{frames.VERSION}")
    model_id = frames.model_id(model)
    if (ready.classes, ready.model_id) != (classes, model_id):
        raise HostError(f"board runs model 0x{ready.model_id:08x} ({ready.classes} classes), "
                        f"not the given model 0x{model_id:08x} ({classes} "
                        "classes): rebuild the bitstream or pass its --model")
    return ready


def check(transport, model: QuantizedModel, klines: Klines, *, window: int = 16,
          progress=None) -> Report:
    """Reset the board, stream ``klines``, compare every reply with the golden model."""
    ready = handshake(transport, model)
    expected = golden.run(model, klines)
    rows = klines.rows()
    report = Report(len(rows), ready.latency)
    sent = 0
    for index in range(len(rows)):
        while sent < len(rows) and sent - index < window:
            transport.write(frames.encode_kline(rows[sent]))
            sent += 1
        got = reply(transport, len(model.classes), f"the result of kline {index}")
        if isinstance(got, frames.Error):
            raise HostError(f"board rejected kline {index}: {got.code.name}; its history is "
                            "now incomplete, so later results cannot match")
        if not isinstance(got, frames.Result) or got.seq != index % 256:
            raise HostError(f"reply {got} out of order at kline {index}: a frame was lost")
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
                        help="seconds to wait for a reply")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1 or args.window < 1:
        parser.error("--limit and --window must be at least 1")
    model = load_model(args.model)
    klines = load_klines(args.data)[:args.limit]
    transport = SerialTransport(args.port, args.baud, args.timeout)
    try:
        report = check(transport, model, klines, window=args.window, progress=cli.say)
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
