"""Atomic file replacement, shared by the model artifact and the kline CSVs."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_write(path, binary: bool = False):
    """A text handle (a bytes one with ``binary``) whose content replaces ``path`` only when
    the block ends normally.

    The text goes to a temporary file beside ``path`` (same file system), is flushed and
    fsynced, then ``os.replace``\\ d over ``path``: a reader sees the old file or the whole
    new one, never half of it. On any exception (interrupt included) the temporary file is
    removed and ``path`` is left as it was. Missing parent directories are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile("wb" if binary else "w", dir=path.parent,
                                         prefix=f".{path.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
