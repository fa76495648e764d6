"""Processes by parent, from /proc (Linux): for tests that interrupt a tool and check
that it left no child behind."""

import os
import time
from pathlib import Path


def descendants(pid: int) -> dict:
    """``{pid: command line}`` of every live process below ``pid``."""
    parents, names = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        state, ppid = text[text.rindex(")") + 2:].split()[:2]
        try:
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if state != "Z":
            parents[int(stat.parent.name)], names[int(stat.parent.name)] = int(ppid), command
    found, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found[child] = names[child]
                frontier.append(child)
    return found


def wait_for(condition, seconds: float, poll: float = 0.1):
    """``condition()``'s first true value within ``seconds``, else ``None``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").is_file() and " Z " not in \
        Path(f"/proc/{pid}/stat").read_text()
