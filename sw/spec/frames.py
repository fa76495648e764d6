"""The UART frame protocol between a host and the board: THE encoding, shared by hw and host.

Every frame is ``SYNC, type, payload, crc``; ``crc`` is CRC-8/SMBUS (polynomial 0x07, initial
value 0, no reflection, no final XOR) over ``type + payload``. Integers are little-endian;
lengths are fixed by the type (and, for results, by the model's number of classes ``C``).

Host to board:

=========  ====  ======================================================  =====
frame      type  payload                                                 bytes
=========  ====  ======================================================  =====
kline      'K'   open, high, low, close (ticks), volume (lots): 5 x u32   23
reset      'R'   none: clears the core's history and the sequence number  3
=========  ====  ======================================================  =====

Board to host:

=========  ====  ======================================================  =======
frame      type  payload                                                 bytes
=========  ====  ======================================================  =======
result     'S'   seq u8, signal u8, raw[C] i8, warm u8, latency u32      10 + C
error      'E'   code u8 (:class:`ErrorCode`)                            4
ready      'Y'   version u8, classes u8, latency u32, model_id u32       13
=========  ====  ======================================================  =======

Each kline frame gets exactly one result frame, in order; ``seq`` counts results modulo 256
from the last reset. ``latency`` is measured on chip: clock cycles from the kline entering the
core to its result leaving it. A reset frame is answered by a ready frame that names the
model on the board (``model_id``, see :func:`model_id`) and its declared latency.

A bad frame is answered by an error frame and dropped; the board then hunts for the next
``SYNC``. A frame must arrive without pauses: a gap longer than the board's inter-byte
timeout drops the partial frame (error ``TIMEOUT``). A frame that lost a byte on the wire can
take the following frame with it; a frame whose bits were flipped cannot.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from enum import IntEnum

SYNC = 0xA5
VERSION = 1


class Type(IntEnum):
    KLINE = ord("K")
    RESET = ord("R")
    RESULT = ord("S")
    ERROR = ord("E")
    READY = ord("Y")


class ErrorCode(IntEnum):
    BAD_CHECKSUM = 1
    BAD_TYPE = 2
    FRAMING = 3   # a UART stop bit was low (noise, wrong baud rate, or a break)
    TIMEOUT = 4   # a partial frame, then silence
    OVERRUN = 5   # a byte arrived before the board took the previous one


class FrameError(ValueError):
    """Bytes that are not a valid frame; the message says why."""


@dataclass(frozen=True)
class Kline:
    open: int
    high: int
    low: int
    close: int
    volume: int


@dataclass(frozen=True)
class Reset:
    pass


@dataclass(frozen=True)
class Result:
    seq: int
    signal: int
    raw: tuple
    warm: bool
    latency: int


@dataclass(frozen=True)
class Error:
    code: ErrorCode


@dataclass(frozen=True)
class Ready:
    version: int
    classes: int
    latency: int
    model_id: int


def crc8(data: bytes) -> int:
    """CRC-8/SMBUS: ``crc8(b"123456789") == 0xF4``."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else crc << 1
    return crc


def payload_length(kind: int, classes: int) -> int:
    lengths = {Type.KLINE: 20, Type.RESET: 0, Type.RESULT: 7 + classes, Type.ERROR: 1,
               Type.READY: 10}
    try:
        return lengths[Type(kind)]
    except ValueError:
        raise FrameError(f"unknown frame type 0x{kind:02x}") from None


def encode(message) -> bytes:
    """Any message -> its frame bytes."""
    if isinstance(message, Kline):
        kind = Type.KLINE
        payload = b"".join(int(v).to_bytes(4, "little") for v in
                           (message.open, message.high, message.low, message.close,
                            message.volume))
    elif isinstance(message, Reset):
        kind, payload = Type.RESET, b""
    elif isinstance(message, Result):
        kind = Type.RESULT
        payload = bytes([message.seq, message.signal, *(r & 0xFF for r in message.raw),
                         int(message.warm)]) + message.latency.to_bytes(4, "little")
    elif isinstance(message, Error):
        kind, payload = Type.ERROR, bytes([message.code])
    elif isinstance(message, Ready):
        kind = Type.READY
        payload = (bytes([message.version, message.classes])
                   + message.latency.to_bytes(4, "little")
                   + message.model_id.to_bytes(4, "little"))
    else:
        raise TypeError(f"not a frame message: {message!r}")
    body = bytes([kind]) + payload
    return bytes([SYNC]) + body + bytes([crc8(body)])


def encode_kline(row) -> bytes:
    """``(open, high, low, close, volume)`` (as :meth:`sw.spec.klines.Klines.rows` gives) -> frame."""
    return encode(Kline(*row))


def decode(frame: bytes, classes: int = 3):
    """Frame bytes -> message; :class:`FrameError` names what is wrong."""
    if len(frame) < 3 or frame[0] != SYNC:
        raise FrameError(f"frame {frame.hex()} does not start with sync byte 0x{SYNC:02x}")
    kind, payload, crc = frame[1], frame[2:-1], frame[-1]
    if len(payload) != payload_length(kind, classes):
        raise FrameError(f"{Type(kind).name} frame of {len(frame)} bytes, expected "
                         f"{payload_length(kind, classes) + 3}")
    if crc8(frame[1:-1]) != crc:
        raise FrameError(f"{Type(kind).name} frame checksum 0x{crc:02x}, expected "
                         f"0x{crc8(frame[1:-1]):02x}")
    def u32(at):
        return int.from_bytes(payload[at:at + 4], "little")

    if kind == Type.KLINE:
        return Kline(*(u32(at) for at in range(0, 20, 4)))
    if kind == Type.RESET:
        return Reset()
    if kind == Type.RESULT:
        raw = tuple(b - 256 if b > 127 else b for b in payload[2:2 + classes])
        return Result(payload[0], payload[1], raw, bool(payload[2 + classes]), u32(3 + classes))
    if kind == Type.ERROR:
        try:
            return Error(ErrorCode(payload[0]))
        except ValueError:
            raise FrameError(f"unknown error code {payload[0]}") from None
    return Ready(payload[0], payload[1], u32(2), u32(6))


def read_frame(read, classes: int = 3) -> bytes:
    """One frame from ``read(n) -> bytes`` (a serial port's read): bytes before a ``SYNC``
    are skipped. Raises :class:`TimeoutError` when ``read`` returns short."""
    def exactly(n):
        data = read(n)
        if len(data) != n:
            raise TimeoutError("no complete frame from the board before the deadline")
        return data

    while exactly(1)[0] != SYNC:
        pass
    kind = exactly(1)
    rest = exactly(payload_length(kind[0], classes) + 1)
    return bytes([SYNC]) + kind + rest


def decode_reply(read, classes: int = 3):
    """The next reply (:class:`Result`, :class:`Error` or :class:`Ready`) from ``read``."""
    return decode(read_frame(read, classes), classes)


def model_id(model) -> int:
    """CRC-32 of the model artifact's canonical JSON without its envelope (``format``,
    ``schema_version``): which model a board was built with, whatever the file's version."""
    from sw.spec.artifact import to_json
    content = {key: value for key, value in to_json(model).items()
               if key not in ("format", "schema_version")}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return zlib.crc32(text.encode())


#: Frames written out byte by byte, and the message each one carries (results: 3 classes).
TEST_VECTORS = [
    # the first 5-minute BTCUSDT candle of the recorded data, 2025-04-03 17:05
    (bytes.fromhex("a54b 1c7b0c00 0d830c00 bc7a0c00 817b0c00 04da0400 44"),
     Kline(817_948, 819_981, 817_852, 818_049, 317_956)),
    (bytes.fromhex("a54b ffffffff ffffffff 00000000 01000000 00000000 cd"),
     Kline(0xFFFF_FFFF, 0xFFFF_FFFF, 0, 1, 0)),
    # sync bytes and frame types inside the payload must not confuse a parser
    (bytes.fromhex("a54b a5a5a5a5 4b4b4b4b 52525252 a5000000 00a50000 95"),
     Kline(0xA5A5_A5A5, 0x4B4B_4B4B, 0x5252_5252, 0xA5, 0xA500)),
    (bytes.fromhex("a552 b9"), Reset()),
    (bytes.fromhex("a553 00 02 80007f 01 03000000 55"), Result(0, 2, (-128, 0, 127), True, 3)),
    (bytes.fromhex("a553 01 00 fffe02 00 11000000 08"), Result(1, 0, (-1, -2, 2), False, 17)),
    (bytes.fromhex("a553 ff 01 0a0b0c 01 78563412 e4"),
     Result(255, 1, (10, 11, 12), True, 0x1234_5678)),
    (bytes.fromhex("a545 01 1d"), Error(ErrorCode.BAD_CHECKSUM)),
    (bytes.fromhex("a545 02 14"), Error(ErrorCode.BAD_TYPE)),
    (bytes.fromhex("a545 03 13"), Error(ErrorCode.FRAMING)),
    (bytes.fromhex("a545 04 06"), Error(ErrorCode.TIMEOUT)),
    (bytes.fromhex("a545 05 01"), Error(ErrorCode.OVERRUN)),
    (bytes.fromhex("a559 01 03 21000000 efbeadde ce"), Ready(1, 3, 33, 0xDEAD_BEEF)),
]
