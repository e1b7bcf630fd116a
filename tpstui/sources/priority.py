"""The monitor yields the CPU to the process that generates.

With generation in a child process (``IsolatedEngine``), what the monitor does (drawing frames,
writing the recording, sampling telemetry) can no longer hold generation's GIL, but on a machine
whose cores generation keeps busy (a CPU run) it can still take a core from one of torch's
threads, and the others then wait for it at their next barrier. ``yield_to`` lowers every thread
of this process to the lowest priority (nice 19) once the child runs: under contention the
scheduler gives generation the cores, and the monitor still gets a small share (it never starves,
as it could under ``SCHED_IDLE``), so the screen and the keys keep working.

Priority limits the monitor's CPU time but not how often its threads wake, and each wakeup on a
busy core preempts a torch thread. Most of those wakeups were threads waiting for this process's
GIL while the main thread drew a frame: CPython wakes a waiting thread every switch interval (5 ms)
to ask for the GIL. ``yield_to`` therefore also lengthens this process's switch interval to
``MONITOR_SWITCH_S``: no thread here stamps tokens any more, so none needs the GIL within 5 ms.
"""

from __future__ import annotations

import contextlib
import os
import sys

__all__ = ["MONITOR_NICE", "MONITOR_SWITCH_S", "NICE_ENV", "monitor_nice", "yield_to"]

MONITOR_NICE = 19
MONITOR_SWITCH_S = 0.05
"""The monitor's GIL switch interval once it has yielded (``sys.setswitchinterval``)."""
NICE_ENV = "TPSTUI_MONITOR_NICE"
"""Overrides ``MONITOR_NICE`` (0 leaves the process alone, switch interval included: the tests,
which run tpstui in-process)."""


def monitor_nice() -> int:
    """The nice value the monitor lowers itself to: ``$TPSTUI_MONITOR_NICE`` (0-19), else 19."""
    try:
        return min(max(int(os.environ.get(NICE_ENV, MONITOR_NICE)), 0), 19)
    except ValueError:
        return MONITOR_NICE


def yield_to(generating_pid: int) -> None:
    """Lower this process's threads to ``monitor_nice()`` (threads made later inherit it from their
    creator) and lengthen its switch interval; ``generating_pid``, already started, keeps its own
    priority. Best effort: a platform or a sandbox that refuses changes nothing, and a thread
    already lower stays so."""
    nice = monitor_nice()
    if generating_pid == os.getpid() or nice == 0:
        return
    sys.setswitchinterval(max(sys.getswitchinterval(), MONITOR_SWITCH_S))
    if sys.platform.startswith("linux"):  # Linux keeps a priority per thread: set each one
        with contextlib.suppress(OSError):
            for task in os.listdir("/proc/self/task"):
                with contextlib.suppress(OSError):
                    if os.getpriority(os.PRIO_PROCESS, int(task)) < nice:
                        os.setpriority(os.PRIO_PROCESS, int(task), nice)
    else:  # elsewhere the priority is the process's
        with contextlib.suppress(OSError, AttributeError):
            if os.getpriority(os.PRIO_PROCESS, 0) < nice:
                os.setpriority(os.PRIO_PROCESS, 0, nice)
