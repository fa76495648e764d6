"""The frame protocol: the shared test vectors, the CRC, and corrupted frames."""

import io
import json

import numpy as np
import pytest
from amaranth.lib.crc import catalog

from sw.spec import frames
from sw.spec.artifact import load, random_model, to_json
from sw.spec.frames import TEST_VECTORS, FrameError


@pytest.mark.parametrize("frame, message", TEST_VECTORS)
def test_vectors_round_trip(frame, message):
    assert frames.encode(message) == frame
    assert frames.decode(frame) == message
    assert frames.decode_reply(io.BytesIO(b"\x00\x13" + frame).read) == message


def test_crc_known_values():
    assert frames.crc8(b"123456789") == 0xF4          # the CRC-8/SMBUS check value
    assert frames.crc8(b"") == 0
    data = bytes(range(256))
    assert frames.crc8(data) == catalog.CRC8_SMBUS(8).compute(data)


@pytest.mark.parametrize("frame, message", TEST_VECTORS)
def test_every_single_bit_flip_is_detected(frame, message):
    for bit in range(8, len(frame) * 8):             # all but the sync byte
        bad = bytearray(frame)
        bad[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(FrameError):
            frames.decode(bytes(bad))


def test_truncated_and_unknown_frames():
    kline = TEST_VECTORS[0][0]
    with pytest.raises(FrameError, match="expected 23"):
        frames.decode(kline[:-1])
    with pytest.raises(FrameError, match="sync"):
        frames.decode(b"\x00" + kline[1:])
    with pytest.raises(FrameError, match="unknown frame type 0x7a"):
        frames.decode(bytes([frames.SYNC, 0x7A, 0x7A]))
    with pytest.raises(TimeoutError):
        frames.read_frame(io.BytesIO(kline[:10]).read)


def test_result_length_follows_the_classes():
    result = frames.Result(7, 4, (1, 2, 3, 4, 5), False, 99)
    frame = frames.encode(result)
    assert len(frame) == 10 + 5
    assert frames.decode(frame, classes=5) == result


def test_model_id_tells_models_apart():
    a, b = (random_model(np.random.default_rng(seed)) for seed in (1, 2))
    assert frames.model_id(a) == frames.model_id(random_model(np.random.default_rng(1)))
    assert frames.model_id(a) != frames.model_id(b)


def test_model_id_does_not_change_with_the_artifact_schema(tmp_path):
    """A board built from a version 1 artifact answers with the id the host computes from
    the same model read as version 2."""
    model = random_model(np.random.default_rng(3))
    model.meta = {"scheme": {"name": "int8-ptq-per-channel"}}
    data = to_json(model)
    del data["schema_version"]
    legacy = tmp_path / "model.json"
    legacy.write_text(json.dumps(dict(data, version=1)))
    assert frames.model_id(load(legacy)) == frames.model_id(model)
    model.meta["scheme"]["name"] = "int4-qat"
    assert frames.model_id(load(legacy)) != frames.model_id(model)
