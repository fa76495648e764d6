"""Atomic file replacement, shared by every tool that writes an output.

A writer puts its text in a temporary file beside the target, named after the target and
the writer's process id (``.model.json.1234.x8f3k.tmp``), and ``os.replace``\\ s it over the
target when done. A process killed before that leaves the temporary file behind; the next
write of the same target removes the ones whose process is gone (:func:`clean_stale`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_write(path, binary: bool = False):
    """A text handle (a bytes one with ``binary``) whose content replaces ``path`` only when
    the block ends normally.

    The content goes to a temporary file beside ``path`` (same file system), is flushed and
    fsynced, then ``os.replace``\\ d over ``path``: a reader sees the old file or the whole
    new one, never half of it. On any exception (interrupt included) the temporary file is
    removed and ``path`` is left as it was. Missing parent directories are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path)
    handle = tempfile.NamedTemporaryFile("wb" if binary else "w", dir=path.parent,
                                         delete=False, prefix=f".{path.name}.{os.getpid()}.",
                                         suffix=".tmp")
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def clean_stale(path: Path) -> list:
    """Remove the temporary files of earlier writes of ``path`` whose writer process no
    longer runs (killed before it could replace ``path``); return their paths."""
    removed = []
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        pid = leftover.name[len(path.name) + 2:].split(".")[0]
        if pid.isdigit() and not running(int(pid)):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
            removed.append(leftover)
    return removed


def running(pid: int) -> bool:
    """Whether a process ``pid`` exists (this one included)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sha256(path) -> str:
    """Hex SHA-256 of a file's bytes: how one output names the output it describes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@contextmanager
def staged_directory(path):
    """A fresh directory whose files replace the directory ``path`` as one set, only when
    the block ends normally: an interrupted or failed block leaves ``path`` as it was.

    The set is built in ``.<name>.<pid>.<random>.tmp`` beside ``path``; at the end the old
    directory is renamed aside and the new one renamed into place (two renames; a process
    killed between them leaves the old set aside, and the next :func:`staged_directory` of
    ``path`` puts it back before anything else).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.parent / f".{path.name}.previous"
    if aside.is_dir() and not path.exists():
        os.replace(aside, path)       # killed between the two renames: the old set is whole
    clean_stale(path)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                                    suffix=".tmp"))
    try:
        yield staging
        if aside.exists():
            shutil.rmtree(aside)
        if path.exists():
            os.replace(path, aside)
        os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(aside, ignore_errors=True)


class NotText(ValueError):
    """A file that is not UTF-8 text; the message names the file, line and byte."""


def read_text(path) -> str:
    """The UTF-8 text of ``path`` (a leading byte-order mark dropped); :class:`NotText`
    names the first line holding a byte that is not UTF-8."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise NotText(f"{path} line {line}: byte 0x{data[error.start]:02x} at column "
                      f"{column} is not UTF-8 text") from None
