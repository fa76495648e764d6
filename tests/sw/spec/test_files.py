"""Atomic writes: temporary files of killed writers are cleaned by the next write."""

import os
import subprocess
import sys

import pytest

from sw.spec.files import atomic_write, clean_stale, staged_directory


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_the_next_write_removes_what_a_killed_writer_left(tmp_path):
    """D13"""
    target = tmp_path / "cache.csv"
    orphan = tmp_path / f".cache.csv.{dead_pid()}.abc123.tmp"
    orphan.write_text("half a file")
    alive = tmp_path / f".cache.csv.{os.getppid()}.def456.tmp"   # a running writer's
    alive.write_text("being written")
    with atomic_write(target) as handle:
        handle.write("whole\n")
    assert target.read_text() == "whole\n" and not orphan.exists() and alive.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [alive.name, "cache.csv"]


def test_a_staged_directory_replaces_the_set_only_when_done(tmp_path):
    target = tmp_path / "ulx3s"
    target.mkdir()
    (target / "trader.bit").write_text("old bitstream")
    (target / "report.json").write_text("old report")
    with pytest.raises(KeyboardInterrupt):
        with staged_directory(target) as staging:
            (staging / "trader.bit").write_text("new")
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ulx3s"]
    assert (target / "trader.bit").read_text() == "old bitstream"
    with staged_directory(target) as staging:
        (staging / "report.json").write_text("new report")
    assert [p.name for p in target.iterdir()] == ["report.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ulx3s"]


def test_a_set_left_aside_by_a_kill_is_put_back(tmp_path):
    aside = tmp_path / ".ulx3s.previous"
    aside.mkdir()
    (aside / "trader.bit").write_text("old")
    staging = tmp_path / f".ulx3s.{dead_pid()}.xyz.tmp"
    staging.mkdir()
    assert clean_stale(tmp_path / "ulx3s") == [staging]
    with pytest.raises(RuntimeError):
        with staged_directory(tmp_path / "ulx3s"):
            raise RuntimeError
    assert (tmp_path / "ulx3s" / "trader.bit").read_text() == "old" and not aside.exists()
