"""Resident memory of the measured processes, read from /proc (Linux; no psutil).

Why not `getrusage(RUSAGE_CHILDREN).ru_maxrss` or wait4's rusage: Linux carries a process's
RSS high-water mark across fork and exec, so a child started from a large parent reports at
least the parent's RSS. Instead the child reports its own `VmHWM` (the high-water mark of the
address space it got at exec) and the parent samples the RSS of the child's whole process tree
while it runs; the peak is the larger of the two.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

PROC = Path("/proc")


def _status_kb(pid: int | str, field: str) -> int:
    """A `kB` field of /proc/<pid>/status, 0 when the process or the field is gone."""
    try:
        text = (PROC / str(pid) / "status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def peak_kb(pid: int | str = "self") -> int:
    """A process's own peak RSS since exec (VmHWM) in KiB; 0 when it is gone."""
    return _status_kb(pid, "VmHWM")


def self_peak_mb() -> float:
    """This process's peak RSS since exec (VmHWM) or, for its waited-for children, their
    ru_maxrss, whichever is larger; in MiB."""
    own = _status_kb("self", "VmHWM")
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return max(own, children) / 1024


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(PROC / str(pid) / "task")
    except OSError:
        return found
    for tid in tasks:
        try:
            found += [
                int(c) for c in (PROC / str(pid) / "task" / tid / "children").read_text().split()
            ]
        except OSError:
            continue
    return found


def tree_rss_kb(pid: int) -> int:
    """The summed current RSS (KiB) of a process and all its descendants."""
    return sum(_tree_rss(pid))


def largest_rss_kb(pid: int) -> int:
    """The current RSS (KiB) of the largest among a process and its descendants."""
    return max(_tree_rss(pid), default=0)


def _tree_rss(pid: int) -> list[int]:
    sizes, stack, seen = [], [pid], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        sizes.append(_status_kb(current, "VmRSS"))
        stack += _children(current)
    return sizes


def tree_cpu_seconds(pid: int) -> float:
    """The CPU time (user + system, all threads) used so far by a process and its
    descendants, in seconds; what a server spent, whatever else ran on the machine."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, stack, seen = 0, [pid], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            # The fields after the command name, which is in parentheses and may hold spaces.
            fields = (PROC / str(current) / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
        stack += _children(current)
    return total / ticks
