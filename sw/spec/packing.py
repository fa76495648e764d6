"""Weight packing: INT8 one per byte, INT4 two per byte, binary eight per byte.

The flat, row-major order of a ``[outputs, inputs]`` weight matrix is packed; the last byte is
zero-padded. INT8 and INT4 are two's complement (INT4 low nibble first); binary stores
bit 1 for weight +1 and bit 0 for -1, least significant bit first.
"""

import numpy as np

WEIGHT_BITS = (8, 4, 1)
#: Inclusive range of a weight code for each width.
WEIGHT_RANGE = {8: (-128, 127), 4: (-8, 7), 1: (-1, 1)}


def check_codes(codes: np.ndarray, bits: int) -> None:
    if bits not in WEIGHT_BITS:
        raise ValueError(f"weight_bits {bits!r} is not one of {WEIGHT_BITS}")
    low, high = WEIGHT_RANGE[bits]
    if bits == 1 and not np.all(np.abs(codes) == 1):
        raise ValueError("binary weights must be -1 or +1")
    if codes.size and (codes.min() < low or codes.max() > high):
        raise ValueError(f"INT{bits} weights must lie in [{low}, {high}], "
                         f"got [{codes.min()}, {codes.max()}]")


def pack(codes: np.ndarray, bits: int) -> bytes:
    codes = np.asarray(codes, dtype=np.int64).ravel()
    check_codes(codes, bits)
    if bits == 8:
        return (codes & 0xFF).astype(np.uint8).tobytes()
    if bits == 4:
        nibbles = np.append(codes & 0xF, [0] * (len(codes) % 2)).astype(np.uint8)
        return (nibbles[0::2] | (nibbles[1::2] << 4)).tobytes()
    return np.packbits(codes > 0, bitorder="little").tobytes()


def unpack(data: bytes, bits: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack`: ``count`` int64 codes."""
    need = packed_size(count, bits)
    if len(data) != need:
        raise ValueError(f"{len(data)} bytes of INT{bits} weights, expected {need} "
                         f"for {count} weights")
    raw = np.frombuffer(data, dtype=np.uint8).astype(np.int64)
    if bits == 8:
        return np.where(raw > 127, raw - 256, raw)
    if bits == 4:
        nibbles = np.stack([raw & 0xF, raw >> 4], axis=1).ravel()[:count]
        return np.where(nibbles > 7, nibbles - 16, nibbles)
    signs = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")[:count]
    return signs.astype(np.int64) * 2 - 1


def packed_size(count: int, bits: int) -> int:
    return (count * bits + 7) // 8
