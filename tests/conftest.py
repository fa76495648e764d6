"""Shared fixtures: where the recorded Bybit data lives, and how to behave without it."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "bybit"
KLINES_5M = DATA / "BTCUSDT_linear_5m.csv"


def need_shared_data() -> Path:
    """The recorded data directory; a skip in a user's own clone, a failure in CI."""
    if DATA.is_dir():
        return DATA
    reason = f"recorded Bybit data not found at {DATA} (../shared beside the repository)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run these tests, not skip them")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return need_shared_data()


@pytest.fixture(scope="session")
def klines_5m(data_dir):
    from sw.data.load import load
    return load(data_dir / KLINES_5M.name)


@pytest.fixture(scope="session")
def default_model(klines_5m):
    """The default trained QuantizedModel (7 -> 16 -> 3, INT8 per-channel PTQ) on the 5m data."""
    from sw.learn.train import train_model
    return train_model(klines_5m, progress=False)
