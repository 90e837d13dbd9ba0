"""Spawned children die with their parent: a `kill -9` of `ctrip api` or `ctrip worker --processes N`
must not leave its Hypercorn or Dramatiq worker processes serving, unseen by any supervisor.

Linux's PR_SET_PDEATHSIG sends the child SIGTERM (its graceful stop) when the parent dies; on other
systems this is a no-op and the supervisor's process-group kill is the only guard.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> None:
    """In a process spawned by multiprocessing: receive `sig` when the parent dies (now, if it has)."""
    parent = multiprocessing.parent_process()
    if parent is None or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return
    if os.getppid() != parent.pid:  # the parent died before the request took effect
        os.kill(os.getpid(), sig)
